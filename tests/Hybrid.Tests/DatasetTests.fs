module Hybrid.Tests.DatasetTests

open Expecto

let tests = testList "Dataset" []
