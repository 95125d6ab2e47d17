/// The network's forward pass written again in NumPy, reading a Hybrid model file with nothing but
/// json, struct and numpy: proof that the file alone is enough to use the model elsewhere.
module Hybrid.Tests.NumpyForward

/// Arguments: model path, raw little-endian float32 features path, D. Prints the probabilities as JSON.
let script =
    """
import json, struct, sys
import numpy as np

path, features, d = sys.argv[1], sys.argv[2], int(sys.argv[3])
raw = open(path, 'rb').read()
(n,) = struct.unpack('<Q', raw[:8])
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
config = json.loads(header.pop('__metadata__')['hybrid'])
t = {}
for name, info in header.items():
    begin, end = info['data_offsets']
    t[name] = np.frombuffer(data[begin:end], dtype='<f4').reshape(info['shape']).astype(np.float64)

x = np.fromfile(features, dtype='<f4').astype(np.float32).reshape(-1, d)
x = ((x - t['input.mean'].astype(np.float32)) / t['input.scale'].astype(np.float32)).astype(np.float64)
z1 = np.tanh(x @ t['W1'].T + t['b1'])
a2 = z1 @ t['W2'].T + t['b2']
if config['skip'] == 'Dense':
    s = x @ t['Ws'].T
elif config['skip'] == 'Diagonal':
    k = len(t['ws'])
    s = np.zeros_like(a2)
    s[:, :k] = x[:, :k] * t['ws']
else:
    s = np.zeros_like(a2)
z2 = np.maximum(a2, 0) + s
a3 = z2 @ t['W3'].T + t['b3']
e = np.exp(a3 - a3.max(axis=1, keepdims=True))
print(json.dumps((e / e.sum(axis=1, keepdims=True)).ravel().tolist()))
"""
