/// What many test files share: the data the scripts use, expecting a library exception by type, and
/// waiting for events in child processes.
module Hybrid.Tests.Common

open System
open System.Diagnostics
open System.IO
open Expecto
open Hybrid

/// The digits split exactly as scripts/sweep.fsx makes it.
let digits =
    lazy
        ({
            Name = "digits"
            Split =
                Dataset.digits ()
                |> Dataset.split { Train = 0.7; Validation = 0.15; Test = 0.15 } 42UL
        }
        : Data)

/// The exception of type 'E that the action must raise; any other outcome fails the test.
let raised<'E when 'E :> exn> (action: unit -> unit) : 'E =
    match Expect.throwsC action id with
    | :? 'E as e -> e
    | other -> failtestf "expected %s, got %s: %s" typeof<'E>.Name (other.GetType().Name) other.Message

/// How long a test waits for an event before it fails: far beyond what a busy machine needs.
let patience = TimeSpan.FromMinutes 10.0

/// Polls `found` until it gives a value; fails naming `what` after `patience`.
let awaitSome (what: string) (found: unit -> 'a option) : 'a =
    let watch = Stopwatch.StartNew()

    let rec poll () =
        match found () with
        | Some value -> value
        | None when watch.Elapsed > patience -> failtestf "waited %O for %s" patience what
        | None ->
            Threading.Thread.Sleep 10
            poll ()

    poll ()

/// Sends a signal with kill(1): STOP freezes a process where it stands, CONT lets it go on.
let signal (name: string) (p: Process) =
    use kill = Process.Start("kill", [ "-" + name; string p.Id ])
    kill.WaitForExit()

    if kill.ExitCode <> 0 then
        failtestf "kill -%s %d failed (the process has ended?)" name p.Id

/// How many rows of each class a data set holds.
let classCounts (data: Dataset) =
    Array.init data.ClassNames.Length (fun c -> data.Labels |> Array.filter ((=) c) |> Array.length)

/// A data set whose only feature is the row's own index, so that parts can be traced back.
let traceable rows classes : Dataset = {
    Name = "traceable"
    Features = Array.init rows float32
    Rows = rows
    Columns = 1
    Labels = Array.init rows (fun r -> r % classes)
    ClassNames = Array.init classes (sprintf "class %d")
    FeatureNames = [| "id" |]
}

/// The row indices a traceable data set's part holds, in its order.
let ids (data: Dataset) = data.Features |> Array.map int

/// Runs `body` with a fresh temporary folder named from `prefix`, deleted afterwards.
let withTempDirectory (prefix: string) (body: string -> unit) =
    let directory =
        Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString "N")

    try
        body directory
    finally
        if Directory.Exists directory then
            Directory.Delete(directory, true)
