"""The overload benchmark's model as an MLServer custom runtime (scripts/bench --overload): PerRowCost behind
MLServer's adaptive batching, which concatenates the queued requests' rows into one [n, 2] FP64 batch.

model-settings.json: "implementation": "mlserver_per_row.PerRowRuntime" (this folder on PYTHONPATH).
"""

from mlserver import MLModel
from mlserver.codecs import NumpyCodec, StringCodec
from mlserver.types import InferenceRequest, InferenceResponse
from per_row_model import PerRowCost


class PerRowRuntime(MLModel):
    async def load(self) -> bool:
        self._model = PerRowCost()
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        rows = NumpyCodec.decode_input(payload.inputs[0])
        outputs = self._model.predict(rows.reshape(len(rows), -1).tolist())
        return InferenceResponse(model_name=self.name, outputs=[StringCodec.encode_output("output-0", outputs)])
