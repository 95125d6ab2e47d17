/// Adaptive search: TPE and successive halving on objectives with known answers, and on real
/// training the guarantees that make it trustworthy — decisions that do not depend on worker count,
/// process count or a kill, and survivors that end with the bits of a run never paused.
module Hybrid.Tests.SearchTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Hybrid.Engine.Model
open Hybrid.Engine.Training
open Hybrid
open Hybrid.Tests.Common

// ---- Halving arithmetic ----

let private halvingTests =
    testList "Halving" [
        testCase "rungs end at the settings' epochs, a factor η apart"
        <| fun () ->
            Expect.equal (Halving.ofBatch (Pruning.Halving(3, 3)) 27 9 0) ([ 3; 9; 27 ], 9) "27 epochs from 3 by 3"

            Expect.equal
                (Halving.ofBatch (Pruning.Halving(2, 3)) 20 9 0)
                ([ 2; 7; 20 ], 9)
                "20 epochs: rounded, the last at 20"

            Expect.equal
                (Halving.ofBatch (Pruning.Halving(20, 3)) 20 9 0)
                ([ 20 ], 9)
                "minimum = maximum: no rung before the end"

            Expect.equal (Halving.ofBatch Pruning.Off 20 9 5) ([ 20 ], 9) "no pruning"
        testCase "Hyperband cycles through its brackets, more configurations where it prunes harder"
        <| fun () ->
            let brackets = List.init 4 (Halving.ofBatch (Pruning.Hyperband(3, 3)) 27 9)

            Expect.equal
                brackets
                [ [ 3; 9; 27 ], 9; [ 9; 27 ], 5; [ 27 ], 3; [ 3; 9; 27 ], 9 ]
                "s = 2, 1, 0, then 2 again"
        testCase "the best ⌊n/η⌋ go on, at least one"
        <| fun () ->
            Expect.equal (Halving.survivors (Pruning.Halving(1, 3)) 7) 2 "7 / 3"
            Expect.equal (Halving.survivors (Pruning.Hyperband(1, 4)) 2) 1 "2 / 4 rounds to 1, not 0"
            Expect.equal (Halving.survivors Pruning.Off 7) 7 "no pruning: all"
        testCase "a minimum above the epochs or η below 2 is refused, naming both"
        <| fun () ->
            let e =
                raised<ArgumentException>(fun () -> Halving.ofBatch (Pruning.Halving(30, 3)) 20 9 0 |> ignore)

            Expect.stringContains e.Message "minimum epochs = 30" "the value"
            Expect.stringContains e.Message "20 epochs" "the bound"

            raised<ArgumentException>(fun () -> Halving.ofBatch (Pruning.Hyperband(1, 1)) 20 9 0 |> ignore)
            |> ignore
    ]

// ---- TPE on a smooth bowl ----

/// A smooth 2-D bowl over [0, 1)², its minimum 0 at (0.3, 0.7).
let private bowl (p: float[]) = (p[0] - 0.3) ** 2.0 + (p[1] - 0.7) ** 2.0

let private bowlSpace: Space = [ LearningRate, FloatRange(0.0, 1.0); Momentum, FloatRange(0.0, 1.0) ]

/// The lowest bowl value in `budget` sequential proposals: TPE after its start-up, or uniform draws.
let private bestOnBowl (tpe: bool) (seed: uint64) (budget: int) =
    let options = Tpe.defaults
    let rng = Rng seed

    let rec go observed n =
        if n = budget then
            observed |> List.map bowl |> List.min
        else
            let point =
                if tpe && n >= options.Startup then
                    Tpe.propose options bowlSpace (observed |> List.sortBy bowl) rng
                else
                    [| rng.NextDouble(); rng.NextDouble() |]

            go (point :: observed) (n + 1)

    go [] 0

let private tpeTests =
    testList "TPE" [
        testCase "beats random search on a smooth bowl, over ten seeds"
        <| fun () ->
            let seeds = [ 1UL .. 10UL ]
            let tpe = seeds |> List.map (fun s -> bestOnBowl true s 60)
            let random = seeds |> List.map (fun s -> bestOnBowl false s 60)
            let wins = List.zip tpe random |> List.filter (fun (t, r) -> t < r) |> List.length

            Expect.isGreaterThanOrEqual
                wins
                8
                (sprintf "TPE found the lower point for %d of 10 seeds (TPE %A, random %A)" wins tpe random)

            Expect.isLessThan
                (List.average tpe)
                (List.average random / 3.0)
                "TPE's mean best is at least three times lower"
        testCase "the same observations and seed give the same proposal"
        <| fun () ->
            let observed =
                List.init 12 (fun i -> [| float i / 12.0; float (11 - i) / 12.0 |])
                |> List.sortBy bowl

            Expect.equal
                (Tpe.propose Tpe.defaults bowlSpace observed (Rng 5UL))
                (Tpe.propose Tpe.defaults bowlSpace observed (Rng 5UL))
                "same point"
        testCase "a choice proposes the category most often good"
        <| fun () ->
            let space: Space = [ Skip, skips [ SkipKind.Dense; SkipKind.Diagonal; SkipKind.None ] ]
            // good: all Diagonal (u in the middle third); bad: the other two
            let good = List.replicate 3 [| 0.5 |]
            let bad = List.init 27 (fun i -> [| (if i % 2 = 0 then 0.1 else 0.9) |])
            let options = { Tpe.defaults with Gamma = 0.1 }

            let picks =
                List.init 20 (fun i -> Tpe.propose options space (good @ bad) (Rng(uint64 i)))
                |> List.map (fun p -> Domain.at (snd space[0]) p[0])

            Expect.allEqual picks (SkipValue SkipKind.Diagonal) "always the good category"
    ]

// ---- Successive halving on synthetic learning curves ----

/// A learning curve whose ceiling is the configuration's quality: validation accuracy q · e / (e + 2)
/// at epoch e, never crossing another's, so halving must keep exactly the best.
let private curve (settings: Settings) (epochs: int) =
    let quality = 1.0 - abs (log10 settings.LearningRate + 2.0) / 4.0

    [
        for e in 1..epochs ->
            let accuracy = quality * float e / float (e + 2)

            EpochMetrics(
                e,
                1.0 - accuracy,
                accuracy,
                Nullable(1.0 - accuracy),
                Nullable accuracy,
                settings.LearningRate
            )
    ]

let private synthetic (search: Search) : Sweep = {
    Name = "synthetic"
    Data = digits.Value
    Base = { Settings.defaults with Epochs = 27; Patience = None }
    Space = [ LearningRate, LogRange(1e-4, 1.0) ]
    Strategy = Strategy.Adaptive search
    Seeds = [ 0UL; 1UL ]
    Only = []
    Notes = ""
}

/// Drives a plan to its end without training: each pending trial "trains" its curve to its stop.
let private simulate (sweep: Sweep) (search: Search) =
    let rec go (states: Map<string, TrialProgress>) (until: Map<string, int option>) steps =
        let plan = Search.plan sweep search states.TryFind

        match plan.Next with
        | Step.Done -> plan, states
        | Step.Apply(_, changes) ->
            let states, until =
                changes
                |> List.fold
                    (fun (states: Map<_, _>, until: Map<_, _>) change ->
                        match change with
                        | Change.Add(t, stop) -> states.Add(t.Key, TrialProgress.Waiting), until.Add(t.Key, stop)
                        | Change.Resume(key, stop) -> states.Add(key, TrialProgress.Waiting), until.Add(key, stop)
                        | Change.Prune key ->
                            match states[key] with
                            | TrialProgress.AtRung h -> states.Add(key, TrialProgress.Ended(Pruned, h)), until
                            | other -> failtestf "pruned a trial that was %A" other)
                    (states, until)

            go states until (steps + 1)
        | Step.Train ->
            let trained =
                plan.Trials
                |> List.fold
                    (fun (states: Map<_, _>) t ->
                        match states.TryFind t.Key, until.TryFind t.Key with
                        | Some TrialProgress.Waiting, Some(Some stop) ->
                            states.Add(t.Key, TrialProgress.AtRung(curve t.Settings stop))
                        | Some TrialProgress.Waiting, Some None ->
                            states.Add(t.Key, TrialProgress.Ended(Completed, curve t.Settings t.Settings.Epochs))
                        | _ -> states)
                    states

            go trained until (steps + 1)

    go Map.empty Map.empty 0

let private epochsSpent (states: Map<string, TrialProgress>) =
    states
    |> Map.toList
    |> List.sumBy (fun (_, p) ->
        match p with
        | TrialProgress.Ended(_, h)
        | TrialProgress.AtRung h -> h.Length
        | TrialProgress.Waiting -> 0)

let private planTests =
    let halving = {
        Sampler = Sampler.Random
        Configurations = 9
        BatchSize = 9
        Pruning = Pruning.Halving(3, 3)
        Seed = 4UL
    }

    testList "Search.plan" [
        testCase "successive halving keeps the best configuration and spends 9·3 + 3·6 + 1·18 epochs per seed"
        <| fun () ->
            let sweep = synthetic halving
            let plan, states = simulate sweep halving

            let quality (t: Trial) = (curve t.Settings 27 |> List.last).ValidationAccuracy.Value

            let best = plan.Trials |> List.maxBy quality

            let completed =
                states
                |> Map.filter (fun _ p ->
                    match p with
                    | TrialProgress.Ended(Completed, _) -> true
                    | _ -> false)
                |> Map.keys
                |> Set.ofSeq

            Expect.equal
                completed
                (plan.Trials
                 |> List.filter (fun t -> t.Configuration = best.Configuration)
                 |> List.map _.Key
                 |> Set.ofList)
                "only the best configuration trains to the end"

            Expect.equal
                (epochsSpent states)
                (2 * (9 * 3 + 3 * 6 + 1 * 18))
                "each survivor trains on from its rung, never again from the start"

            Expect.equal
                (Search.epochBudget 27 halving 2)
                (epochsSpent states)
                "the budget known in advance is what the search spent"

            Expect.equal (plan.Decisions |> List.length) 3 "a proposal and two promotions"
        testCase "Hyperband with TPE ends with every batch decided, its configurations numbered in order"
        <| fun () ->
            let search = {
                Sampler = Sampler.Tpe { Tpe.defaults with Startup = 5 }
                Configurations = 30
                BatchSize = 9
                Pruning = Pruning.Hyperband(3, 3)
                Seed = 4UL
            }

            let plan, states = simulate (synthetic search) search
            Expect.equal (plan.Trials |> List.map _.Configuration |> List.distinct) [ 0..29 ] "30 configurations"

            Expect.equal
                (Search.epochBudget 27 search (synthetic search).Seeds.Length)
                (epochsSpent states)
                "Hyperband's budget, known in advance"

            Expect.isTrue
                (states
                 |> Map.forall (fun _ p ->
                     match p with
                     | TrialProgress.Ended _ -> true
                     | _ -> false))
                "every trial ended"

            Expect.isLessThan
                (epochsSpent states)
                (30 * 2 * 27 / 2)
                "less than half the epochs of training all to the end"
        testCase "the plan is a function of the results only: replayed, it decides the same"
        <| fun () ->
            let sweep = synthetic halving
            let plan, states = simulate sweep halving

            Expect.equal
                (Search.plan sweep halving states.TryFind).Decisions
                plan.Decisions
                "the same decisions from the final results"
        testCase "the definition hash covers every search parameter"
        <| fun () ->
            let hash search = Sweep.definitionHash (synthetic search)

            let variants = [
                halving
                { halving with Sampler = Sampler.Sobol }
                { halving with Sampler = Sampler.Tpe Tpe.defaults }
                { halving with Sampler = Sampler.Tpe { Tpe.defaults with Gamma = 0.2 } }
                { halving with Sampler = Sampler.Tpe { Tpe.defaults with PriorWeight = 2.0 } }
                { halving with Sampler = Sampler.Tpe { Tpe.defaults with Startup = 3 } }
                { halving with Sampler = Sampler.Tpe { Tpe.defaults with Candidates = 8 } }
                { halving with Configurations = 10 }
                { halving with BatchSize = 3 }
                { halving with Pruning = Pruning.Halving(3, 2) }
                { halving with Pruning = Pruning.Hyperband(3, 3) }
                { halving with Pruning = Pruning.Off }
                { halving with Seed = 5UL }
            ]

            Expect.equal
                (variants |> List.map hash |> List.distinct |> List.length)
                variants.Length
                "a hash of its own for each"
        testCase "another seed proposes other configurations"
        <| fun () ->
            let first, _ = simulate (synthetic halving) halving
            let other = { halving with Seed = 5UL }
            let second, _ = simulate (synthetic other) other
            Expect.notEqual (first.Trials |> List.map _.Key) (second.Trials |> List.map _.Key) "other trials"
    ]

// ---- Real training: the same decisions and bits at any worker count ----

let private digitsSearch (name: string) (threads: int) : Sweep = {
    Name = name
    Data = digits.Value
    Base = { Settings.defaults with Epochs = 9; Patience = None; Threads = threads }
    Space = [ M, ints [ 8; 16; 32 ]; LearningRate, LogRange(1e-3, 3e-2) ]
    Strategy =
        Strategy.Adaptive {
            Sampler = Sampler.Tpe { Tpe.defaults with Startup = 4 }
            Configurations = 12
            BatchSize = 6
            Pruning = Pruning.Hyperband(1, 3)
            Seed = 11UL
        }
    Seeds = [ 0UL; 1UL ]
    Only = []
    Notes = ""
}

/// The child process's work (tests/Hybrid.Tests run with `--search-child ROOT`): the adaptive sweep, until done or killed.
let child (root: string) : int =
    Environment.SetEnvironmentVariable("HYBRID_RUNS", root)
    Sweep.run (digitsSearch "search" 1) |> ignore
    0

let private startChild (root: string) =
    let info =
        ProcessStartInfo("dotnet", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)

    [ Reflection.Assembly.GetExecutingAssembly().Location; "--search-child"; root ]
    |> List.iter info.ArgumentList.Add

    info.Environment["HYBRID_CHECKPOINT_SECONDS"] <- "0"
    let child = Process.Start info |> nonNull
    child.OutputDataReceived.Add ignore
    child.ErrorDataReceived.Add ignore
    child.BeginOutputReadLine()
    child.BeginErrorReadLine()
    child

/// What must not depend on how the sweep ran: every trial's state and figures, and every epoch.
let private fingerprint (t: StoredTrial) =
    // as bits: a pruned trial has no test figure (NaN), and NaN ≠ NaN
    let bits = Option.map BitConverter.DoubleToInt64Bits

    t.Key,
    t.Configuration,
    t.State,
    bits t.ValidationAccuracy,
    bits t.ValidationLoss,
    bits t.TestAccuracy,
    t.KeptEpoch,
    t.History

let private stored (database: string) (name: string) =
    use store = Store.openAt database
    Store.decisions store name, Store.results store name |> List.map fingerprint

/// A run's events in short: what happened, in order.
let private outline (events: RunEvent seq) =
    events
    |> Seq.map (function
        | Started(_, after) -> sprintf "started after %A" after
        | EpochDone(_, m, _) -> sprintf "epoch %d" m.Epoch
        | Finished(r, _) -> sprintf "finished %A" r.Status
        | Paused(_, c) -> sprintf "paused after %d" c.Epoch)
    |> List.ofSeq

let private runTests =
    testList "adaptive sweeps" [
        testCase "a rung's figure is the accuracy of the epoch the trainer keeps there, under either keep rule"
        <| fun () ->
            let prepared = Run.prepare (digitsSearch "search" 1).Data

            let keptAt (keep: KeepRule) =
                let settings = {
                    Settings.defaults with
                        Epochs = 15
                        Patience = None
                        LearningRate = 3e-2
                        Keep = keep
                }

                let checkpoints = ResizeArray<TrainingCheckpoint>()
                let onEpoch = Action<EpochMetrics, TrainingCheckpoint>(fun _ c -> checkpoints.Add c)

                let _, result =
                    Model.train settings prepared.Scaler prepared.Train prepared.Validation onEpoch None

                let history = List.ofSeq result.History

                [
                    for c in checkpoints ->
                        let kept = c.History[c.KeptEpoch - 1].ValidationAccuracy.Value
                        Expect.equal (Search.figureAt keep c.Epoch history) kept (sprintf "%A at epoch %d" keep c.Epoch)
                        c.KeptEpoch
                ]

            Expect.notEqual
                (keptAt KeepRule.LowestValidationLoss)
                (keptAt KeepRule.HighestValidationAccuracy)
                "the rules keep other epochs somewhere in this run, so both were put to the test"
        testCase "a trial cut off after its rung's last epoch, before it paused, pauses when taken over"
        <| fun () ->
            let sweep = { digitsSearch "search" 1 with Strategy = Strategy.Grid 1 }
            let t = (Sweep.expand sweep).Head
            let prepared = Run.prepare sweep.Data
            let events = ResizeArray()
            Run.trial prepared events.Add None (Some 2) t

            Expect.equal
                (outline events)
                [ "started after None"; "epoch 1"; "epoch 2"; "paused after 2" ]
                "the first claim stops at the rung"

            let atRung =
                events
                |> Seq.pick (function
                    | Paused(_, c) -> Some c
                    | _ -> None)

            events.Clear()
            Run.trial prepared events.Add (Some atRung) (Some 2) t

            Expect.equal
                (outline events)
                [ "started after Some 2"; "paused after 2" ]
                "taken over at the rung: it pauses without training on"
        testCase "one worker and two store the same decisions and the same bits; survivors equal runs never paused"
        <| fun () ->
            SweepTests.withRoot (fun root ->
                let two = SweepTests.runAt (Path.Combine(root, "two")) (digitsSearch "search" 1)
                let one = SweepTests.runAt (Path.Combine(root, "one")) (digitsSearch "search" 2)
                let decisions, trials = stored two.Database "search"
                Expect.equal (stored one.Database "search") (decisions, trials) "decisions and trials"

                Expect.isTrue
                    (trials
                     |> List.exists (fun (_, _, state, _, _, _, _, _) -> state = TrialState.Finished Pruned))
                    "some trials were pruned"

                use store = Store.openAt two.Database
                let agree, detail = Verify.decisions store (digitsSearch "search" 1)
                Expect.isTrue agree (sprintf "the decisions re-derive from the results: %s" detail)

                let resumed =
                    two.Trials
                    |> List.filter (fun t -> t.State = TrialState.Finished Completed && t.Attempts > 1)

                Expect.isNonEmpty resumed "some completed trials went on from a rung"
                let prepared = Run.prepare (digitsSearch "search" 1).Data

                for t in resumed do
                    let model = Store.model store t.Key |> Option.map (ModelFile.ofBytes t.Key)
                    let identical, detail = Verify.trial prepared t model

                    Expect.isTrue
                        identical
                        (sprintf
                            "trial %s, resumed %d times, against a run straight through: %s"
                            t.Key
                            (t.Attempts - 1)
                            detail)

                for t in two.Trials |> List.filter (fun t -> t.State = TrialState.Finished Pruned) do
                    let _, full =
                        Model.train t.Settings prepared.Scaler prepared.Train prepared.Validation null None

                    Expect.equal
                        t.History
                        (List.ofSeq full.History |> List.truncate t.History.Length)
                        (sprintf "pruned trial %s is a prefix of its full run" t.Key))
        testCase "two processes on one store, and a process killed again and again then resumed, decide as one"
        <| fun () ->
            SweepTests.withRoot (fun root ->
                let clean = SweepTests.runAt (Path.Combine(root, "clean")) (digitsSearch "search" 1)
                let expected = stored clean.Database "search"
                let shared = Path.Combine(root, "shared")
                let workers = [ startChild shared; startChild shared ]

                for w in workers do
                    Expect.isTrue (w.WaitForExit(TimeSpan.FromMinutes 5.0)) "a worker finished"
                    Expect.equal w.ExitCode 0 "a worker's exit code"

                Expect.equal (stored (Path.Combine(shared, "search", "sweep.db")) "search") expected "two processes"
                let killed = Path.Combine(root, "killed")
                let rng = Rng 2026UL

                for _ in 1..4 do
                    use child = startChild killed

                    if not (child.WaitForExit(TimeSpan.FromMilliseconds(1000.0 + 2500.0 * rng.NextDouble()))) then
                        child.Kill true

                    child.WaitForExit()

                let resumed = SweepTests.runAt killed (digitsSearch "search" 1)
                Expect.equal (stored resumed.Database "search") expected "killed and resumed")
    ]

let tests = testList "Search" [ halvingTests; tpeTests; planTests; runTests ]
