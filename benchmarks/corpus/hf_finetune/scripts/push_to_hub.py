from huggingface_hub import HfApi
import gradio as gr

print(HfApi, gr)
