module Hybrid.Safetensors

let placeholder = 0
