import onnxruntime
from optimum.onnxruntime import ORTModule

print(onnxruntime, ORTModule)
