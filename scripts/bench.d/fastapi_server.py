"""A hand-written FastAPI server for a pickle (the HR tree, the forest): the peer a user would write themselves.

usage: python fastapi_server.py MODEL.pkl PORT [APP]   (POST /APP/predict, APP defaults to hr; uvicorn with uvloop + httptools, one worker)
"""

import pickle
import sys
from typing import List, Optional

import numpy as np
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

with open(sys.argv[1], "rb") as f:
    MODEL = pickle.load(f)

APP = sys.argv[3] if len(sys.argv) > 3 else "hr"
app = FastAPI()
query_id = 0


class Query(BaseModel):
    input: Optional[List[float]] = None
    input_batch: Optional[List[List[float]]] = None


@app.post(f"/{APP}/predict")
async def predict(q: Query):
    global query_id
    if q.input_batch is not None:
        outputs = MODEL.predict(np.asarray(q.input_batch, dtype=np.float64))
        return {"batch_predictions": [{"output": str(o), "default": False} for o in outputs]}
    if q.input is None:
        raise HTTPException(status_code=400, detail="expected 'input' or 'input_batch'")
    output = MODEL.predict(np.asarray([q.input], dtype=np.float64))[0]
    query_id += 1
    return {"query_id": query_id, "output": str(output), "default": False}


@app.get("/health")
async def health():
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(
        app, host="127.0.0.1", port=int(sys.argv[2]), workers=1, loop="uvloop", http="httptools", log_level="warning", access_log=False
    )
