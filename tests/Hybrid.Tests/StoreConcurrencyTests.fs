/// Many processes on one store: concurrent claims, a lost PostgreSQL server, a writer killed mid-sweep.
module Hybrid.Tests.StoreConcurrencyTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Microsoft.Data.Sqlite
open Hybrid
open Hybrid.Engine.Training

open Hybrid.Tests.StoreFixtures

// ---- Many processes claiming at once ----

let private claimSweep () = sweepOver "claims" [ 1..50 ]

/// A claiming process (tests/Hybrid.Tests run with `--claimer LOCATION`): claims trials of the
/// claims sweep and finishes each after a moment, printing its key, until none is left.
let claimer (location: string) : int =
    use store = Store.connect location

    let byKey =
        Sweep.expand (claimSweep ()) |> List.map (fun t -> t.Key, t) |> Map.ofList

    let rec loop () =
        match Store.claimNext store "claims" Worker.current patient with
        | Some c ->
            // A moment of "training", so the processes' claims overlap as real workers' do.
            Threading.Thread.Sleep 10

            if Store.finish store c (resultOf byKey[c.Key] Completed) None then
                stdout.WriteLine("claimed " + c.Key)

            loop ()
        | None -> ()

    loop ()
    stdout.Flush()
    0

let private testProgram () = Reflection.Assembly.GetExecutingAssembly().Location

/// Runs `count` claiming processes on the store at once; returns every key they reported.
let private claimAtOnce (location: string) (count: int) =
    let start _ =
        let info =
            ProcessStartInfo(
                "dotnet",
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false
            )

        [ testProgram (); "--claimer"; location ] |> List.iter info.ArgumentList.Add
        Process.Start info |> nonNull

    let children = List.init count start

    let outputs =
        children
        |> List.map (fun c -> c.StandardOutput.ReadToEndAsync(), c.StandardError.ReadToEndAsync())

    for child, (_, errors) in List.zip children outputs do
        child.WaitForExit()
        Expect.equal child.ExitCode 0 (sprintf "a claimer failed: %s" errors.Result)
        child.Dispose()

    outputs
    |> List.collect (fun (output, _) ->
        output.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries) |> List.ofArray)

let private concurrencyTests backend =
    testList "concurrent claims" [
        testCase "8 processes claiming 200 trials at once: every trial claimed and finished exactly once"
        <| fun () ->
            let body (location: string) =
                do
                    use store = Store.connect location
                    let sweep = claimSweep ()
                    Store.register store sweep manifest |> ignore
                    Store.addTrials store sweep.Name (Sweep.expand sweep)

                let reported =
                    claimAtOnce location 8 |> List.map (fun line -> line.Replace("claimed ", ""))

                let keys = Sweep.expand (claimSweep ()) |> List.map _.Key
                Expect.equal (List.sort reported) (List.sort keys) "each of the 200 keys reported once"
                use store = Store.connect location
                let results = Store.results store "claims"

                Expect.allEqual
                    (results |> List.map (fun t -> t.State, t.Attempts))
                    (TrialState.Finished Completed, 1)
                    "all finished on their first claim"

                Expect.isGreaterThan
                    (results |> List.choose _.Worker |> List.distinct |> List.length)
                    1
                    "shared between processes"

            match backend with
            | Backend.Sqlite -> withDir (fun dir -> body (Path.Combine(dir, "claims.db")))
            | Backend.Postgres -> Postgres.withDatabase body
    ]

// ---- Losing the PostgreSQL server ----

/// A store reaching its fresh database through a relay the test can cut, holding the small sweep
/// with its first trial claimed; the body also gets the claim, that trial's first epoch, and the
/// database's direct connection string.
let private withRelayedClaim
    (retrySeconds: float)
    (body: Store -> Proxy.Relay -> Claim -> EpochMetrics -> string -> unit)
    =
    Postgres.withDatabase (fun connectionString ->
        let direct = Npgsql.NpgsqlConnectionStringBuilder connectionString
        let server = Net.IPEndPoint(Net.IPAddress.Parse(nonNull direct.Host), direct.Port)
        use relay = new Proxy.Relay(server)

        let relayed =
            Npgsql.NpgsqlConnectionStringBuilder(connectionString, Port = relay.Port, Timeout = 2).ConnectionString

        use store = Store.openPostgresRetrying (TimeSpan.FromSeconds retrySeconds) relayed
        let sweep = small ()
        let trials = Sweep.expand sweep
        Store.register store sweep manifest |> ignore
        Store.addTrials store sweep.Name trials
        body store relay (claim store sweep) (historyOf trials.Head 1).Head connectionString)

let private connectionLossTests =
    testList "losing the server" [
        testCase "a worker that loses the server retries with back-off and carries on when it returns"
        <| fun () ->
            withRelayedClaim 60.0 (fun store relay c epoch _ ->
                relay.Cut()

                let write =
                    Threading.Tasks.Task.Run(fun () -> Store.recordEpochsWithCheckpoint store c [ epoch ] (blob 100 1))

                let watch = Diagnostics.Stopwatch.StartNew()
                // Watched for at most 50 s: inside the 60 s retry bound, after which the write would end.
                while relay.Refused < 2 && watch.Elapsed < TimeSpan.FromSeconds 50.0 do
                    Threading.Thread.Sleep 10

                Expect.isGreaterThanOrEqual relay.Refused 2 "tried to reach the server again, more than once"
                Expect.isFalse write.IsCompleted "still retrying while the server is away"
                relay.Restore()
                Expect.isTrue (write.Wait(TimeSpan.FromSeconds 30.0)) "done once the server is back"
                Expect.isTrue write.Result "the epoch was recorded under the claim"
                Expect.equal (Store.latestCheckpoint store c.Key) (Some(1, blob 100 1)) "and its checkpoint")

        testCase "after the retry bound it gives up with a clear message, and its trial goes to another worker"
        <| fun () ->
            withRelayedClaim 2.0 (fun store relay c epoch direct ->
                relay.Cut()
                let watch = Diagnostics.Stopwatch.StartNew()

                let e =
                    storeError (fun () -> Store.recordEpochsWithCheckpoint store c [ epoch ] (blob 1 1) |> ignore)

                Expect.stringContains e.Message "could not be reached" "says what happened"
                Expect.stringContains e.Message "giving up" "and that it stopped trying"

                Expect.isFalse
                    (e.Message.Contains(string (Npgsql.NpgsqlConnectionStringBuilder direct).Password))
                    "never the password"

                Expect.isLessThan
                    watch.Elapsed.TotalSeconds
                    10.0
                    "within the 2 s bound, plus one 2 s connection timeout"

                use other = Store.openPostgres direct
                let grace = TimeSpan.FromSeconds 1.0
                Threading.Thread.Sleep grace
                let taken = Store.claimNext other (small ()).Name elsewhere grace |> Option.get
                Expect.equal (taken.Key, taken.Attempt) (c.Key, 2) "another worker takes the trial over")
    ]

// ---- Durability: a writer killed mid-sweep ----

let private durabilitySweep () = sweepOver "durability" [ 1..100 ]

/// The child process's work (tests/Hybrid.Tests run with `--store-writer FILE`): runs fake trials one
/// after another through the store, printing each key once its finish has committed, until killed.
let writer (file: string) : int =
    use store = Store.openAt file
    let sweep = durabilitySweep ()
    let trials = Sweep.expand sweep
    Store.register store sweep manifest |> ignore
    Store.addTrials store sweep.Name trials
    let checkpoint = Array.init 65536 byte

    for trial in trials do
        let result = resultOf trial Completed
        let c = claim store sweep

        for m in result.History do
            Store.recordEpochsWithCheckpoint store c [ m ] checkpoint |> ignore

        Store.finish store c result None |> ignore
        stdout.WriteLine("finished " + trial.Key)
        stdout.Flush()

    0

let private durabilityTests =
    testList "durability" [
        testCase "a writer killed mid-sweep leaves a sound database with every finished trial intact"
        <| fun () ->
            withDir (fun dir ->
                let file = Path.Combine(dir, "runs.db")

                let info =
                    ProcessStartInfo(
                        "dotnet",
                        RedirectStandardOutput = true,
                        RedirectStandardError = true,
                        UseShellExecute = false
                    )

                [ testProgram (); "--store-writer"; file ] |> List.iter info.ArgumentList.Add

                use child =
                    match Process.Start info with
                    | null -> failtest "could not start the writer"
                    | child -> child

                let reported = Collections.Generic.List<string>()
                let deadline = Stopwatch.StartNew()

                while reported.Count < 5 && deadline.Elapsed < TimeSpan.FromMinutes 2.0 do
                    match child.StandardOutput.ReadLine() with
                    | null ->
                        child.WaitForExit()

                        failtestf
                            "the writer ended early (exit code %d): %s"
                            child.ExitCode
                            (child.StandardError.ReadToEnd())
                    | line when line.StartsWith "finished " -> reported.Add(line.Substring 9)
                    | _ -> ()

                child.Kill true
                child.WaitForExit()
                Expect.equal reported.Count 5 "the writer reported five finished trials before the kill"

                do
                    use connection = raw file
                    Expect.equal (scalar connection "PRAGMA integrity_check") "ok" "integrity check"

                use store = Store.openAt file
                let sweep = durabilitySweep ()
                let byKey = Sweep.expand sweep |> List.map (fun t -> t.Key, t) |> Map.ofList

                let finished =
                    Store.results store sweep.Name
                    |> List.filter (fun t -> t.State = TrialState.Finished Completed)

                let finishedKeys = finished |> List.map _.Key |> Set.ofList

                Expect.isTrue
                    (Set.isSubset (Set.ofSeq reported) finishedKeys)
                    "every reported trial is finished in the store"

                for t in finished do
                    expectStored t (resultOf byKey[t.Key] Completed)

                let unfinished =
                    Store.results store sweep.Name
                    |> List.filter (fun t -> t.State <> TrialState.Finished Completed)

                Expect.equal (finished.Length + unfinished.Length) byKey.Count "every trial still there")
    ]

let tests =
    testList "Store" [
        StoreTests.onBoth "claims" concurrencyTests
        connectionLossTests
        durabilityTests
    ]
