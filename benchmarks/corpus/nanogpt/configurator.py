import sys
from ast import literal_eval

for arg in sys.argv[1:]:
    print(literal_eval(arg.split("=")[-1]))
