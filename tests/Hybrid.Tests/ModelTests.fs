module Hybrid.Tests.ModelTests

open Expecto

let tests = testList "Model" []
