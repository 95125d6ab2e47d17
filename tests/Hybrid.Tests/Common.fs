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
