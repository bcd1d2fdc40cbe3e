"""Models-from-code entry for MLflow: ``mlflow.pyfunc.log_model(python_model=<this file>)``.

MLflow copies this file next to the checkpoint, so loading the model runs known code instead of unpickling
an object.
"""

import mlflow.models

from seqlab.tracking.pyfunc import SeqlabPyfunc

mlflow.models.set_model(SeqlabPyfunc())
