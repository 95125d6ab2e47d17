/// A sweep's trials in the store: registration, a trial's life, copying between the databases.
module Hybrid.Tests.StoreTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Microsoft.Data.Sqlite
open Hybrid
open Hybrid.Engine.Training

open Hybrid.Tests.StoreFixtures

// ---- Sweeps and trials ----

let private sweepTests backend =
    testList "sweeps" [
        testCase "registering twice is idempotent; the manifest is replaced"
        <| fun () ->
            withStore backend (fun store ->
                let sweep = small ()
                Expect.equal (Store.register store sweep manifest) Registration.New "first"
                Expect.equal (Store.register store sweep [ "git commit", "def456" ]) Registration.Unchanged "again"
                Expect.equal (Store.manifest store sweep.Name) [ "git commit", "def456" ] "latest manifest"
                let recorded = Store.sweep store sweep.Name |> Option.get
                Expect.equal recorded.DefinitionHash (Sweep.definitionHash sweep) "hash"
                Expect.stringContains recorded.Definition (Sweep.print sweep) "definition"
                Expect.stringContains recorded.Definition (Sweep.describe sweep.Base) "base settings"
                Expect.equal recorded.Notes sweep.Notes "notes"
                Expect.equal recorded.History.Length 1 "one definition")

        testCase "another definition under the name is refused while the registered one has trials to run"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                finishNext store sweep (resultOf trials[0] Completed)
                let typo = sweepOver sweep.Name [ 4; 9 ]
                let e = storeError (fun () -> Store.register store typo manifest |> ignore)

                Expect.stringContains
                    e.Problem
                    (sprintf "sweep '%s' is registered with another definition" sweep.Name)
                    "says which sweep"

                Expect.stringContains e.Problem "7 trials not finished" "says why"
                Expect.stringContains e.Problem (Sweep.definitionHash typo) "names the new definition"

                Expect.equal
                    (Store.sweep store sweep.Name |> Option.get).DefinitionHash
                    (Sweep.definitionHash sweep)
                    "the registered one stays")

        testCase "once finished, a changed definition is recorded, keeps finished trials and adds only the new ones"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                for t in trials do
                    finishNext store sweep (resultOf t Completed)

                let wider = sweepOver sweep.Name [ 4; 8; 16 ]

                Expect.equal
                    (Store.register store wider manifest)
                    (Registration.Changed(Sweep.definitionHash sweep))
                    "changed"

                let widerTrials = Sweep.expand wider
                Store.addTrials store wider.Name widerTrials
                let all = Store.results store wider.Name

                Expect.equal
                    (all |> List.map _.Key |> Set.ofList)
                    (widerTrials |> List.map _.Key |> Set.ofList)
                    "old and new trials, once each"

                Expect.equal
                    (Store.completedKeys store wider.Name)
                    (trials |> List.map _.Key |> Set.ofList)
                    "the finished trials stay finished"

                Expect.equal
                    (Store.counts store wider.Name)
                    { Pending = 4; Running = 0; Paused = 0; Finished = 8 }
                    "only the new ones to run"

                let current = Sweep.definitionHash wider
                Expect.allEqual (all |> List.map _.DefinitionHash) current "every trial under the current definition"

                Expect.equal
                    (all |> List.map _.Configuration)
                    (widerTrials |> List.map _.Configuration)
                    "configurations as expanded now"

                let history = (Store.sweep store wider.Name |> Option.get).History |> List.map fst
                Expect.equal history [ Sweep.definitionHash sweep; current ] "both definitions in the history")

        testCase "the same trials under a hash taken the old way are one sweep: accepted though unfinished"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                finishNext store sweep (resultOf trials[0] Completed)
                // As a store registered before the strategy had its own text form holds it.
                let old = "a hash of the same definition, taken another way"

                Sql.transaction true store (fun tx ->
                    for table in [ "sweeps"; "sweep_trials"; "definitions" ] do
                        Sql.execute tx (sprintf "UPDATE %s SET definition_hash = @old" table) [ "@old", box old ]
                        |> ignore)

                Expect.equal
                    (Store.register store sweep manifest)
                    (Registration.Changed old)
                    "accepted, as a changed definition"

                Store.addTrials store sweep.Name trials

                Expect.allEqual
                    (Store.results store sweep.Name |> List.map _.DefinitionHash)
                    (Sweep.definitionHash sweep)
                    "every trial under the new hash"

                Expect.equal
                    (Store.completedKeys store sweep.Name)
                    (set [ trials[0].Key ])
                    "the finished trial stays finished")

        testCase "adding the same trials twice adds nothing"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                Store.addTrials store sweep.Name trials
                let all = Store.results store sweep.Name
                Expect.equal (all |> List.map _.Key) (trials |> List.map _.Key) "each trial once, in expansion order"
                Expect.allEqual (all |> List.map _.State) TrialState.Pending "pending"
                Expect.equal (all |> List.map _.Seed) (trials |> List.map _.Seed) "seeds, UInt64.MaxValue included"

                Expect.isTrue
                    (all
                     |> List.forall (fun t -> t.ValidationLoss.IsNone && t.History.IsEmpty && t.Attempts = 0))
                    "no results yet")

        testCase "trials of an unregistered sweep are refused"
        <| fun () ->
            withStore backend (fun store ->
                Expect.throwsT<ArgumentException>
                    (fun () -> Store.addTrials store "nobody" (Sweep.expand (small ())))
                    "unregistered")

        testCase "an unknown trial has no status and no model"
        <| fun () ->
            withSweep backend (fun store _ _ ->
                Expect.isNone (Store.status store "no-such-key") "status"
                Expect.isNone (Store.model store "no-such-key") "model")
    ]

// ---- A trial's life ----

let private lifecycleTests backend =
    testList "lifecycle" [
        testCase "pending, claimed, epochs and checkpoints, finished with its model: read back exactly"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                let trial = trials[0]
                let result = resultOf trial Completed
                Expect.equal (Store.status store trial.Key) (Some TrialState.Pending) "pending"
                let c = claim store sweep

                Expect.equal
                    (c.Key, c.Attempt, c.Checkpoint)
                    (trial.Key, 1, None)
                    "the first trial, first attempt, nothing to resume"

                Expect.equal (Store.status store trial.Key) (Some TrialState.Running) "running"
                let running = stored store sweep.Name trial.Key
                Expect.isSome running.StartedUtc "start time"
                Expect.equal running.Worker (Some Worker.current) "held by this process"
                let first, second = result.History[0], result.History[1]
                Expect.isTrue (Store.recordEpochsWithCheckpoint store c [ first ] (blob 3 1)) "epoch 1"
                Expect.isTrue (Store.recordEpochsWithCheckpoint store c [ second ] (blob 70000 2)) "epoch 2"
                Expect.equal (Store.latestCheckpoint store trial.Key) (Some(2, blob 70000 2)) "checkpoint replaced"
                let running = stored store sweep.Name trial.Key

                Expect.equal
                    (running.History |> List.map epochBits)
                    ([ first; second ] |> List.map epochBits)
                    "epochs so far"

                Expect.isNone running.TestAccuracy "no final figures while running"
                Expect.isTrue (Store.finish store c result (Some(blob 5000 3))) "finished"
                Expect.equal (Store.status store trial.Key) (Some(TrialState.Finished Completed)) "completed"
                Expect.isNone (Store.latestCheckpoint store trial.Key) "checkpoint deleted"
                Expect.equal (Store.model store trial.Key) (Some(blob 5000 3)) "the model, byte for byte"
                let finished = stored store sweep.Name trial.Key
                expectStored finished result
                Expect.equal finished.Attempts 1 "one attempt")

        testCase "a diverged trial keeps NaN apart from a missing value"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                let trial = trials[0]

                let history = [
                    EpochMetrics(1, 0.5, 0.25, Nullable(nan), Nullable(), Double.PositiveInfinity)
                    EpochMetrics(2, nan, Double.NegativeInfinity, Nullable(), Nullable(0.0), 1e-3)
                ]

                let result = {
                    resultOf trial Diverged with
                        History = history
                        TestLoss = nan
                        TestAccuracy = Double.PositiveInfinity
                }

                finishNext store sweep result
                expectStored (stored store sweep.Name trial.Key) result
                Expect.isNone (Store.model store trial.Key) "no model")

        testCase "recording an epoch again replaces it"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                let c = claim store sweep

                Store.recordEpochsWithCheckpoint
                    store
                    c
                    [ (EpochMetrics(1, 1.0, 0.5, Nullable(), Nullable(), 0.1)) ]
                    (blob 1 1)
                |> ignore

                Store.recordEpochsWithCheckpoint
                    store
                    c
                    [ (EpochMetrics(1, 2.0, 0.75, Nullable 0.3, Nullable 0.9, 0.1)) ]
                    (blob 1 2)
                |> ignore

                let history = (stored store sweep.Name trials[0].Key).History

                Expect.equal
                    history
                    [ EpochMetrics(1, 2.0, 0.75, Nullable 0.3, Nullable 0.9, 0.1) ]
                    "one epoch, the latest")

        testCase "a claim taken over resumes from its checkpoint, and the old holder can record nothing more"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                let history = historyOf trials[0] 3
                let old = Store.claimNext store sweep.Name elsewhere patient |> Option.get

                Store.recordEpochsWithCheckpoint store old [ history[0]; history[1] ] (blob 10 2)
                |> ignore

                Threading.Thread.Sleep 20

                let taken =
                    Store.claimNext store sweep.Name Worker.current TimeSpan.Zero |> Option.get

                Expect.equal
                    (taken.Key, taken.Attempt, taken.Checkpoint)
                    (old.Key, 2, Some(2, blob 10 2))
                    "same trial, second attempt, from epoch 2"

                Expect.equal
                    (stored store sweep.Name old.Key).History
                    [ history[0]; history[1] ]
                    "epochs up to the checkpoint kept"

                Expect.isFalse
                    (Store.recordEpochsWithCheckpoint store old [ history[2] ] (blob 10 3))
                    "the old holder's epoch is refused"

                Expect.equal (Store.heartbeat store [ old; taken ]) [ old ] "the old claim is reported lost"

                Expect.isFalse
                    (Store.finish store old (resultOf trials[0] Completed) None)
                    "the old holder cannot finish it"

                Expect.equal (Store.status store old.Key) (Some TrialState.Running) "still running under the new claim"

                Expect.isTrue
                    (Store.finish store taken (resultOf trials[0] Completed) None)
                    "the new holder finishes it"

                Expect.equal (stored store sweep.Name old.Key).Attempts 2 "two attempts recorded")

        testCase "a claim with a fresh heartbeat is left alone, and taken over once it is older than the grace period"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                let grace = TimeSpan.FromSeconds 1.0
                let far = Store.claimNext store sweep.Name elsewhere grace |> Option.get
                Expect.equal far.Key trials[0].Key "the far worker holds the first trial"
                let mine = Store.claimNext store sweep.Name Worker.current grace |> Option.get
                Expect.equal mine.Key trials[1].Key "a fresh claim is passed over"
                Threading.Thread.Sleep 1200
                Expect.isEmpty (Store.heartbeat store [ mine ]) "this worker keeps its claim alive"
                let taken = Store.claimNext store sweep.Name Worker.current grace |> Option.get
                Expect.equal (taken.Key, taken.Attempt) (trials[0].Key, 2) "the silent claim is taken over"
                let next = Store.claimNext store sweep.Name Worker.current grace |> Option.get
                Expect.equal next.Key trials[2].Key "the live claim is not")

        testCase "a claim of this machine's dead process is taken over at once"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                use ended = Diagnostics.Process.Start("true")
                ended.WaitForExit()
                let machine = Worker.current.Split('/')[0]
                let dead = sprintf "%s/%d/%d" machine ended.Id 12345L
                Store.claimNext store sweep.Name dead patient |> ignore
                let taken = claim store sweep

                Expect.equal
                    (taken.Key, taken.Attempt)
                    (trials[0].Key, 2)
                    "taken over without waiting for the grace period")

        testCase "counts follow the trials; with every trial finished nothing is claimable"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                Expect.equal
                    (Store.counts store sweep.Name)
                    { Pending = 8; Running = 0; Paused = 0; Finished = 0 }
                    "all pending"

                finishNext store sweep (resultOf trials[0] Completed)
                claim store sweep |> ignore

                Expect.equal
                    (Store.counts store sweep.Name)
                    { Pending = 6; Running = 1; Paused = 0; Finished = 1 }
                    "one of each"

                for t in trials |> List.skip 2 do
                    finishNext store sweep (resultOf t Failed)

                Expect.isNone (Store.claimNext store sweep.Name Worker.current patient) "nothing left but a live claim")

        testCase "completed, diverged and failed trials all count as finished"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                finishNext store sweep (resultOf trials[0] Completed)
                finishNext store sweep (resultOf trials[1] Diverged)
                finishNext store sweep (resultOf trials[2] Failed)
                claim store sweep |> ignore
                let expected = set [ trials[0].Key; trials[1].Key; trials[2].Key ]
                Expect.equal (Store.completedKeys store sweep.Name) expected "finished keys"
                Expect.isEmpty (Store.completedKeys store "another sweep") "per sweep")

        testCase "resetFailed makes failed trials pending again and leaves the rest"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                finishNext store sweep (resultOf trials[0] Completed)
                let failed = resultOf trials[1] Failed
                finishNext store sweep failed
                Expect.equal (Store.resetFailed store sweep.Name) 1 "one reset"
                let reset = stored store sweep.Name failed.Trial.Key
                Expect.equal reset.State TrialState.Pending "pending"
                Expect.equal reset.Reason "" "reason cleared"
                Expect.isEmpty reset.History "epochs cleared"
                Expect.isNone reset.TestLoss "figures cleared"
                Expect.equal (Store.completedKeys store sweep.Name) (set [ trials[0].Key ]) "completed kept"
                Expect.equal (claim store sweep).Key failed.Trial.Key "claimable again"
                Expect.equal (Store.resetFailed store sweep.Name) 0 "nothing left to reset")

        testCase "verifications are recorded in order, per sweep"
        <| fun () ->
            withSweep backend (fun store sweep trials ->
                finishNext store sweep (resultOf trials[0] Completed)
                Store.recordVerification store trials[0].Key true "weights and metrics bit-identical"
                Store.recordVerification store trials[0].Key false "W1[3]: 0.25 vs 0.2500001"
                let recorded = Store.verifications store sweep.Name

                Expect.equal
                    (recorded |> List.map (fun v -> v.Key, v.Identical, v.Detail))
                    [
                        trials[0].Key, true, "weights and metrics bit-identical"
                        trials[0].Key, false, "W1[3]: 0.25 vs 0.2500001"
                    ]
                    "both, oldest first"

                Expect.throwsT<ArgumentException>
                    (fun () -> Store.recordVerification store "no-such-key" true "")
                    "unknown trial")
    ]

// ---- Copying a sweep between the two databases ----

/// Everything the store says about a sweep, for comparing two stores.
let private everything (store: Store) (sweep: Sweep) =
    let trials = Store.results store sweep.Name
    let stored = Store.sweep store sweep.Name |> Option.get

    {|
        Sweep = stored
        Manifest = Store.manifest store sweep.Name
        // NaN is not equal to itself: the figures are compared by their bits, below.
        Trials =
            trials
            |> List.map (fun t ->
                {
                    t with
                        History = []
                        ValidationLoss = None
                        ValidationAccuracy = None
                        TestLoss = None
                        TestAccuracy = None
                        Seconds = None
                },
                t.History |> List.map epochBits)
        Figures =
            trials
            |> List.map (fun t ->
                [
                    t.ValidationLoss
                    t.ValidationAccuracy
                    t.TestLoss
                    t.TestAccuracy
                    t.Seconds
                ]
                |> List.map (Option.map bits))
        Models = trials |> List.map (fun t -> Store.model store t.Key)
        Checkpoints = trials |> List.map (fun t -> Store.latestCheckpoint store t.Key)
        Verifications = Store.verifications store sweep.Name
    |}

let private copyTests =
    testList "copy" [
        testCase "PostgreSQL to a SQLite file and back loses nothing"
        <| fun () ->
            Postgres.withDatabase (fun origin ->
                Postgres.withDatabase (fun returned ->
                    withDir (fun dir ->
                        use source = Store.openPostgres origin
                        let sweep = small ()
                        let trials = Sweep.expand sweep
                        Store.register source sweep manifest |> ignore
                        Store.addTrials source sweep.Name trials
                        let completed = claim source sweep

                        Store.recordEpochsWithCheckpoint source completed [ (historyOf trials[0] 1).Head ] (blob 9 9)
                        |> ignore

                        Store.finish source completed (resultOf trials[0] Completed) (Some(blob 4096 1))
                        |> ignore

                        let diverged = {
                            resultOf trials[1] Diverged with
                                TestLoss = nan
                                History = [ EpochMetrics(1, nan, 0.5, Nullable(), Nullable nan, 1e-3) ]
                        }

                        Store.finish source (claim source sweep) diverged None |> ignore
                        let running = claim source sweep

                        Store.recordEpochsWithCheckpoint
                            source
                            running
                            [ (historyOf trials[2] 1).Head ]
                            (blob 65536 2)
                        |> ignore

                        Store.recordVerification source trials[0].Key true "identical"
                        Store.recordVerification source trials[0].Key false "2 of 90 weights differ"
                        use archive = Store.openAt (Path.Combine(dir, "archive.db"))
                        Store.copy source archive sweep.Name
                        use back = Store.openPostgres returned
                        Store.copy archive back sweep.Name

                        Expect.equal
                            (everything archive sweep)
                            (everything source sweep)
                            "the SQLite copy holds everything"

                        Expect.equal (everything back sweep) (everything source sweep) "and so does the copy back"
                        Expect.equal (claim back sweep).Key trials[3].Key "the copy's pending trials can be claimed"
                        let e = storeError (fun () -> Store.copy source archive sweep.Name)
                        Expect.stringContains e.Problem "already has a sweep named" "refused, not merged"

                        Expect.throwsT<StoreException>
                            (fun () -> Store.copy source archive "no such sweep")
                            "unknown sweep"
                        |> ignore)))
        testCase "a trial that cannot be read is refused before anything is copied"
        <| fun () ->
            withDir (fun dir ->
                let sweep = small ()
                let trials = Sweep.expand sweep
                let file = Path.Combine(dir, "damaged.db")

                do
                    use source = Store.openAt file
                    Store.register source sweep manifest |> ignore
                    Store.addTrials source sweep.Name trials

                do
                    use connection = raw file

                    scalar
                        connection
                        (sprintf
                            "UPDATE trials SET settings = replace(settings, 'M=', 'M=x') WHERE key = '%s'"
                            trials[1].Key)
                    |> ignore

                use source = Store.openAt file
                use target = Store.openAt (Path.Combine(dir, "target.db"))

                let e: InvalidFileException =
                    Common.raised (fun () -> Store.copy source target sweep.Name)

                Expect.stringContains e.Message trials[1].Key "names the trial"
                Expect.isNone (Store.sweep target sweep.Name) "nothing copied")
    ]

let onBoth (name: string) (tests: Backend -> Test) =
    testList name [
        testList "SQLite" [ tests Backend.Sqlite ]
        testList "PostgreSQL" [ tests Backend.Postgres ]
    ]

let tests =
    testList "Store" [ onBoth "sweeps" sweepTests; onBoth "lifecycle" lifecycleTests; copyTests ]
