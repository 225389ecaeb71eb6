"""Stand-in for a transformers fine-tuning script with PEFT and ROUGE (written for the benchmark)."""

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Optional

import datasets
import evaluate
import nltk
import numpy as np
import torch
from datasets import load_dataset
from filelock import FileLock
from peft import LoraConfig, get_peft_model
from rouge_score import rouge_scorer
from sklearn.metrics import f1_score

import transformers
from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    HfArgumentParser,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import check_min_version, is_offline_mode
from transformers.utils.versions import require_version

require_version("datasets>=1.8.0", "To fix: pip install -r examples/pytorch/summarization/requirements.txt")

try:
    nltk.data.find("tokenizers/punkt")
except (LookupError, OSError):
    with FileLock(".lock") as lock:
        nltk.download("punkt", quiet=True)


@dataclass
class ModelArguments:
    model_name_or_path: str = field(metadata={"help": "Path to pretrained model"})
    cache_dir: Optional[str] = field(default=None)


def main():
    parser = HfArgumentParser((ModelArguments, Seq2SeqTrainingArguments))
    scorer = rouge_scorer.RougeScorer(["rouge1"])
    metric = evaluate.load("rouge")
    print(logging, os, sys, datasets, np, torch, load_dataset, LoraConfig, get_peft_model, f1_score, transformers)
    print(AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, Seq2SeqTrainer, set_seed, get_last_checkpoint)
    print(check_min_version, is_offline_mode, parser, scorer, metric)


if __name__ == "__main__":
    main()
