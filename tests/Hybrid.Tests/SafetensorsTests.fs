module Hybrid.Tests.SafetensorsTests

open Expecto

let tests = testList "Safetensors" []
