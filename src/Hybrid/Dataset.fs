module Hybrid.Dataset

let placeholder = 0
