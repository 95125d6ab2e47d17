module Hybrid.Model

let placeholder = 0
