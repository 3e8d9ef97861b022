"""FastAPI baseline for scripts/format-stats: a TorchScript model called once per request, as a user would write it.

usage: python fastapi_torch_server.py MODEL.pt PORT   (uvicorn, one worker, one torch thread)
"""

import sys

import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

torch.set_num_threads(1)
MODEL = torch.jit.load(sys.argv[1]).eval()
app = FastAPI()


class Query(BaseModel):
    input: list[float]


@app.post("/mlp256/predict")
def predict(q: Query):
    with torch.inference_mode():
        out = MODEL(torch.tensor([q.input], dtype=torch.float32))[0].tolist()
    return {"output": out, "default": False}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
