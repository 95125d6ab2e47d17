module Hybrid.Tests.Main

open Expecto

let all =
    testList "Hybrid" [ DatasetTests.tests; SafetensorsTests.tests; ModelTests.tests; SpaceTests.tests; ExperimentTests.tests ]

[<EntryPoint>]
let main argv = runTestsWithCLIArgs [] argv all
