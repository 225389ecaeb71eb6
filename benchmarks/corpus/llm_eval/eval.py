"""Stand-in for an LLM evaluation harness calling hosted APIs (written for the benchmark)."""

import asyncio
import json
from pathlib import Path

import boto3
import httpx
import openai
import tiktoken
import ujson
from dotenv import load_dotenv
from loguru import logger
from pydantic import BaseModel
from tenacity import retry, stop_after_attempt

from llm_eval.scoring import score_answer
from llm_eval.parsing import extract_answer

load_dotenv()


class Sample(BaseModel):
    question: str
    answer: str


@retry(stop=stop_after_attempt(3))
async def ask(client: openai.AsyncOpenAI, sample: Sample) -> str:
    response = await client.chat.completions.create(model="gpt-4o-mini", messages=[])
    return response.choices[0].message.content


def main():
    samples = [Sample(**ujson.loads(line)) for line in Path("data.jsonl").read_text().splitlines()]
    bedrock = boto3.client("bedrock-runtime")
    enc = tiktoken.get_encoding("cl100k_base")
    logger.info("{} samples, {} {}", len(samples), bedrock, enc)
    print(asyncio, json, httpx, score_answer, extract_answer)


if __name__ == "__main__":
    main()
