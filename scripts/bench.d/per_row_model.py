"""The overload benchmark's model: 0.5 ms of its own time per row whatever the batch (capacity 2,000 rows/s).

clipper deploys this file as a module (its predict); the FastAPI peer loads a pickled PerRowCost.
"""

import time

ROW_SECONDS = 0.0005


class PerRowCost:
    def predict(self, inputs):
        time.sleep(ROW_SECONDS * len(inputs))
        return [str(row[0]) for row in inputs]


def predict(inputs):
    return PerRowCost().predict(inputs)
