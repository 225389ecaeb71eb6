import streamlit as st
import plotly.express as px
import pandas as pd

print(st, px, pd)
