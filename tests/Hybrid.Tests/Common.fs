/// What many test files share: the data the scripts use, and expecting a library exception by type.
module Hybrid.Tests.Common

open Expecto
open Hybrid

/// The digits split exactly as scripts/sweep.fsx makes it.
let digits = lazy ({ Name = "digits"; Split = Dataset.digits () |> Dataset.split { Train = 0.7; Validation = 0.15; Test = 0.15 } 42UL }: Data)

/// The exception of type 'E that the action must raise; any other outcome fails the test.
let raised<'E when 'E :> exn> (action: unit -> unit) : 'E =
    match Expect.throwsC action id with
    | :? 'E as e -> e
    | other -> failtestf "expected %s, got %s: %s" typeof<'E>.Name (other.GetType().Name) other.Message

/// How many rows of each class a data set holds.
let classCounts (data: Dataset) =
    Array.init data.ClassNames.Length (fun c -> data.Labels |> Array.filter ((=) c) |> Array.length)

/// A data set whose only feature is the row's own index, so that parts can be traced back.
let traceable rows classes : Dataset =
    { Name = "traceable"
      Features = Array.init rows float32
      Rows = rows
      Columns = 1
      Labels = Array.init rows (fun r -> r % classes)
      ClassNames = Array.init classes (sprintf "class %d")
      FeatureNames = [| "id" |] }

/// The row indices a traceable data set's part holds, in its order.
let ids (data: Dataset) = data.Features |> Array.map int
