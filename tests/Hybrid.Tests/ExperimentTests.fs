module Hybrid.Tests.ExperimentTests

open System
open Microsoft.FSharp.Reflection
open Expecto
// Only Hybrid, as in a script: the settings and the engine's kinds are all there.
open Hybrid

// The values a script builds.
let private data = {
    Name = "iris"
    Split =
        Dataset.iris ()
        |> Dataset.split { Train = 0.7; Validation = 0.15; Test = 0.15 } 42UL
}

let private sweep = {
    Sweep.create "t" data with
        Space = [
            M, ints [ 32; 64 ]
            Skip, skips [ SkipKind.Dense; SkipKind.None ]
            LearningRate, LogRange(1e-3, 1e-2)
        ]
}

/// 2 widths × 2 skip kinds × 3 learning rates.
let private configurations = 12

let private keys (s: Sweep) = Sweep.expand s |> List.map _.Key

let private argumentError (action: unit -> 'a) : ArgumentException =
    try
        action () |> ignore
        failtest "expected an ArgumentException"
    with :? ArgumentException as e ->
        e

let private expandTests =
    testList "Sweep.expand" [
        testCase "configurations × seeds trials"
        <| fun () ->
            Expect.equal (Sweep.expand sweep).Length (configurations * 3) "12 × 3"
            Expect.equal (Sweep.count sweep) (configurations * 3) "count agrees"
        testCase "each configuration runs under every seed, in the seeds' order"
        <| fun () ->
            for configuration, trials in Sweep.expand sweep |> List.groupBy _.Configuration do
                Expect.equal (trials |> List.map _.Seed) sweep.Seeds (sprintf "configuration %d" configuration)
        testCase "a trial's settings carry its seed"
        <| fun () ->
            for t in Sweep.expand sweep do
                Expect.equal t.Settings.Seed t.Seed (sprintf "configuration %d" t.Configuration)
        testCase "configurations are numbered 0.. in the strategy's order"
        <| fun () ->
            let trials = Sweep.expand sweep
            Expect.equal (trials |> List.map _.Configuration |> List.distinct) [ 0 .. configurations - 1 ] "0..11"

            Expect.equal
                (trials |> List.distinctBy _.Configuration |> List.map _.Values)
                (Space.points sweep.Strategy sweep.Space)
                "the space's points"
        testCase "a trial's settings are the base with its values applied"
        <| fun () ->
            for t in Sweep.expand sweep do
                let expected =
                    t.Values
                    |> List.fold (fun s (setting, value) -> Setting.apply setting value s) {
                        sweep.Base with
                            Seed = t.Seed
                    }

                Expect.equal t.Settings expected (sprintf "configuration %d, seed %d" t.Configuration t.Seed)
        testCase "a sweep without seeds is refused"
        <| fun () ->
            Expect.stringContains
                (argumentError (fun () -> Sweep.expand { sweep with Seeds = [] })).Message
                "at least one seed"
                "the message"
        testCase "Sweep.only keeps the configurations that meet it, renumbered"
        <| fun () ->
            let wide = sweep |> Sweep.only "wide" (fun s -> s.M = 64)
            let trials = Sweep.expand wide
            Expect.equal trials.Length (configurations / 2 * 3) "half the configurations"
            Expect.isTrue (trials |> List.forall (fun t -> t.Settings.M = 64)) "only M = 64"
            Expect.equal (trials |> List.map _.Configuration |> List.distinct) [ 0 .. configurations / 2 - 1 ] "0..5"
        testCase "Sweep.only conditions add up"
        <| fun () ->
            let narrow =
                sweep
                |> Sweep.only "wide" (fun s -> s.M = 64)
                |> Sweep.only "dense" (fun s -> s.Skip = SkipKind.Dense)

            Expect.equal (Sweep.count narrow) (3 * 3) "one width, one skip kind, three rates, three seeds"
        testCase "an empty space runs the base settings once per seed"
        <| fun () ->
            let trials = Sweep.expand { sweep with Space = [] }

            Expect.equal
                (trials |> List.map _.Settings)
                [ for seed in sweep.Seeds -> { sweep.Base with Seed = seed } ]
                "the base, seeded"
    ]

let private keyTests =
    let dataHash = Data.hash data

    /// One change per field of Settings except Threads (which never changes results).
    let changes: (string * (Settings -> Settings)) list = [
        "M", fun s -> { s with M = s.M + 1 }
        "L", fun s -> { s with L = s.L + 1 }
        "Skip", fun s -> { s with Skip = SkipKind.Diagonal }
        "Optimizer", fun s -> { s with Optimizer = OptimizerKind.AdamW }
        "LearningRate", fun s -> { s with LearningRate = Math.BitIncrement s.LearningRate }
        "Momentum", fun s -> { s with Momentum = 0.5 }
        "Nesterov", fun s -> { s with Nesterov = not s.Nesterov }
        "WeightDecay", fun s -> { s with WeightDecay = 1e-5 }
        "Schedule", fun s -> { s with Schedule = ScheduleKind.Step }
        "WarmupEpochs", fun s -> { s with WarmupEpochs = 2 }
        "BatchSize", fun s -> { s with BatchSize = 16 }
        "Epochs", fun s -> { s with Epochs = s.Epochs + 1 }
        "Keep", fun s -> { s with Keep = KeepRule.HighestValidationAccuracy }
        "Patience", fun s -> { s with Patience = None }
        "Seed", fun s -> { s with Seed = s.Seed + 1UL }
    ]

    testList "trial keys" [
        testCase "the same sweep expanded twice gives the same keys"
        <| fun () ->
            Expect.equal
                (keys sweep)
                (keys {
                    sweep with
                        Data = {
                            data with
                                Split =
                                    Dataset.iris ()
                                    |> Dataset.split { Train = 0.7; Validation = 0.15; Test = 0.15 } 42UL
                        }
                })
                "deterministic"
        testCase "keys are distinct across configurations and seeds"
        <| fun () -> Expect.equal (keys sweep |> List.distinct).Length (configurations * 3) "36 distinct keys"
        testList "no two trials share a key, whatever the strategy" [
            let discrete = [ M, ints [ 32; 64 ]; Skip, skips [ SkipKind.Dense; SkipKind.None ] ]

            for strategy in [ Strategy.Grid 3; Strategy.Random(10, 1UL); Strategy.Sobol 10 ] ->
                testCase (sprintf "%A over choices only" strategy)
                <| fun () ->
                    let all = keys { sweep with Space = discrete; Strategy = strategy }

                    Expect.equal (List.distinct all).Length all.Length "each key names one trial"
        ]
        testCase "threads never change a key"
        <| fun () ->
            Expect.equal
                (keys { sweep with Base = { Settings.defaults with Threads = 4 } })
                (keys sweep)
                "Threads = 4 vs 1"
        testCase "a different split seed is different data and gives different keys"
        <| fun () ->
            let other = {
                data with
                    Split =
                        Dataset.iris ()
                        |> Dataset.split { Train = 0.7; Validation = 0.15; Test = 0.15 } 43UL
            }

            Expect.notEqual (Data.hash other) (Data.hash data) "the data hash"
            let before, after = keys sweep, keys { sweep with Data = other }
            Expect.isTrue (List.forall2 (<>) before after) "every key changes"
        testCase "the data's name is not part of the data"
        <| fun () ->
            Expect.equal
                (keys { sweep with Data = { data with Name = "renamed" } })
                (keys sweep)
                "same split, same keys"
        testList "any setting changes the key" [
            for field, change in changes ->
                testCase field
                <| fun () ->
                    Expect.notEqual
                        (Sweep.trialKey dataHash (change Settings.defaults))
                        (Sweep.trialKey dataHash Settings.defaults)
                        field
        ]
        testCase "the changes above cover every field of Settings but Threads"
        <| fun () ->
            let fields =
                FSharpType.GetRecordFields typeof<Settings>
                |> Array.map _.Name
                |> Array.filter ((<>) "Threads")
                |> List.ofArray

            Expect.equal (changes |> List.map fst) fields "one change per field"
        testCase "a base setting outside the space changes every key"
        <| fun () ->
            Expect.isTrue
                (List.forall2 (<>) (keys sweep) (keys { sweep with Base = { Settings.defaults with BatchSize = 64 } }))
                "BatchSize 32 → 64"
        testCase "the engine's version enters the key"
        <| fun () ->
            let under version = Sweep.trialKeyUnder version dataHash Settings.defaults

            Expect.notEqual (under "0.1.0") (under "0.1.1") "another engine, another key"

            Expect.equal
                (Sweep.trialKey dataHash Settings.defaults)
                (under Engine.version)
                "this engine's key is under its version"
    ]

/// The README's example, as written there.
let private readmeSweep =
    let iris = {
        Name = "iris"
        Split =
            Dataset.iris ()
            |> Dataset.split { Train = 0.7; Validation = 0.15; Test = 0.15 } 42UL
    }

    {
        Sweep.create "iris-widths" iris with
            Space = [
                M, ints [ 16; 32; 64 ]
                Skip, skips [ SkipKind.Dense; SkipKind.None ]
                LearningRate, LogRange(1e-3, 1e-2)
            ]
    }

/// Recorded from `Sweep.definitionHash readmeSweep` when the canonical text form was introduced; it
/// must never change by accident (a library update, a printer's layout): stores recognise sweeps by it.
let private readmeHash =
    "b8a2ec726e4a516607e3e3d8163b64d207b560fbd8ae89505e0ed0ad128e0614"

let private hashTests =
    let unchanged what (changed: Sweep) =
        testCase what
        <| fun () -> Expect.equal (Sweep.definitionHash changed) (Sweep.definitionHash sweep) what

    let changes what (changed: Sweep) =
        testCase what
        <| fun () -> Expect.notEqual (Sweep.definitionHash changed) (Sweep.definitionHash sweep) what

    testList "Sweep.definitionHash" [
        testCase "is deterministic"
        <| fun () ->
            Expect.equal (Sweep.definitionHash { sweep with Notes = "" }) (Sweep.definitionHash sweep) "same value"
        testCase "the README's example sweep has the committed hash"
        <| fun () ->
            // A stored sweep is recognised by this value: a change here makes every store see a changed definition.
            Expect.equal (Sweep.definitionHash readmeSweep) readmeHash "definition hash"
        testCase "every strategy has its own text form"
        <| fun () ->
            Expect.equal
                ([ Strategy.Grid 3; Strategy.Random(10, 7UL); Strategy.Sobol 128 ]
                 |> List.map Strategy.describe)
                [ "grid(3)"; "random(10,7)"; "sobol(128)" ]
                "forms"
        testList "changes with what decides the trials" [
            changes "a space with another choice" {
                sweep with
                    Space = [
                        M, ints [ 32; 128 ]
                        Skip, skips [ SkipKind.Dense; SkipKind.None ]
                        LearningRate, LogRange(1e-3, 1e-2)
                    ]
            }
            changes "a space with another range" {
                sweep with
                    Space = [
                        M, ints [ 32; 64 ]
                        Skip, skips [ SkipKind.Dense; SkipKind.None ]
                        LearningRate, LogRange(1e-4, 1e-2)
                    ]
            }
            changes "a space with a range end differing in the 12th digit" {
                sweep with
                    Space = [
                        M, ints [ 32; 64 ]
                        Skip, skips [ SkipKind.Dense; SkipKind.None ]
                        LearningRate, LogRange(1e-3, 1.00000000001e-2)
                    ]
            }
            testCase "a choice differing in its 101st value"
            <| fun () ->
                let widths last = { sweep with Space = [ M, ints ([ 1..100 ] @ [ last ]) ] }

                Expect.notEqual
                    (Sweep.definitionHash (widths 102))
                    (Sweep.definitionHash (widths 101))
                    "M's last choice 101 vs 102"
            changes "a space with one more setting" { sweep with Space = sweep.Space @ [ Epochs, ints [ 10 ] ] }
            changes "another grid size" { sweep with Strategy = Strategy.Grid 4 }
            changes "another strategy" { sweep with Strategy = Strategy.Sobol 12 }
            changes "another seed list" { sweep with Seeds = [ 0UL; 1UL ] }
            changes "the seeds in another order" { sweep with Seeds = [ 2UL; 1UL; 0UL ] }
            changes "another base" { sweep with Base = { Settings.defaults with Epochs = 50 } }
            changes "a condition" (sweep |> Sweep.only "wide" (fun s -> s.M = 64))
            changes "other data" {
                sweep with
                    Data = {
                        data with
                            Split =
                                Dataset.iris ()
                                |> Dataset.split { Train = 0.7; Validation = 0.15; Test = 0.15 } 43UL
                    }
            }
        ]
        testCase "a condition's name, not its body, enters the hash"
        <| fun () ->
            Expect.equal
                (Sweep.definitionHash (sweep |> Sweep.only "c" (fun s -> s.M = 64)))
                (Sweep.definitionHash (sweep |> Sweep.only "c" (fun s -> s.M = 32)))
                "same name, same hash"

            Expect.notEqual
                (Sweep.definitionHash (sweep |> Sweep.only "c" (fun s -> s.M = 64)))
                (Sweep.definitionHash (sweep |> Sweep.only "d" (fun s -> s.M = 64)))
                "another name, another hash"
        testList "does not change with what only labels the sweep" [
            unchanged "the name" { sweep with Name = "another name" }
            unchanged "the notes" { sweep with Notes = "a <b>note</b> with | pipes & \"quotes\"" }
            unchanged "the data's name" { sweep with Data = { data with Name = "IRIS" } }
            unchanged "the base's thread count (threads never change results)" {
                sweep with
                    Base = { Settings.defaults with Threads = 8 }
            }
        ]
    ]

let private printTests =
    let lines (text: string) =
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
        |> Array.map _.TrimEnd('\r')

    testList "Sweep.print" [
        testCase "a header with the counts, then one line per configuration"
        <| fun () ->
            let printed = lines (Sweep.print sweep)
            Expect.equal printed[0] "sweep 't': 12 configurations × 3 seeds = 36 trials on iris" "header"
            Expect.equal (printed.Length - 1) configurations "one line per configuration"
        testCase "each line shows the configuration's number and formatted values"
        <| fun () ->
            let printed = lines (Sweep.print sweep)
            Expect.equal printed[1] "  #0    M=32, skip=Dense, learning rate=0.001" "the first configuration"

            Expect.equal
                printed[2]
                "  #1    M=32, skip=Dense, learning rate=0.00316228"
                "the geometric mean of the range"

            Expect.equal printed[12] "  #11   M=64, skip=None, learning rate=0.01" "the last configuration"
        testCase "a filtered sweep prints only what it runs"
        <| fun () ->
            let printed = lines (Sweep.print (sweep |> Sweep.only "wide" (fun s -> s.M = 64)))
            Expect.equal printed[0] "sweep 't': 6 configurations × 3 seeds = 18 trials on iris" "header"
            Expect.isTrue (printed[1..] |> Array.forall _.Contains("M=64,")) "only M = 64"
    ]

let private outlineTests =
    let lines (text: string) =
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
        |> Array.map _.TrimEnd('\r')

    testList "Sweep.outline" [
        testCase "the counts, the space and strategy, the first configurations and how to see the rest"
        <| fun () ->
            Expect.equal
                (lines (Sweep.outline 2 sweep))
                [|
                    "sweep 't': 12 configurations × 3 seeds = 36 trials on iris"
                    "  space: M {32, 64}; skip {Dense, None}; learning rate [0.001, 0.01] (log); strategy grid(3)"
                    "  #0    M=32, skip=Dense, learning rate=0.001"
                    "  #1    M=32, skip=Dense, learning rate=0.00316228"
                    "  … and 10 more (Sweep.print lists them all; the report has every one)"
                |]
                "outline"
        testCase "a sweep no larger than the outline shows every configuration and no more"
        <| fun () ->
            let printed = lines (Sweep.outline 12 sweep)
            Expect.equal printed.Length 14 "header, space, 12 configurations"
        testCase "the README's example reads with the defaults"
        <| fun () ->
            Expect.equal
                (readmeSweep.Seeds, readmeSweep.Strategy, readmeSweep.Base)
                ([ 0UL; 1UL; 2UL ], Strategy.Grid 3, Settings.defaults)
                "defaults"

            Expect.equal (Sweep.count readmeSweep) 54 "18 configurations × 3 seeds, as the README says"
    ]

let private storedTextTests =
    let varied = [
        Settings.defaults
        {
            Settings.defaults with
                Patience = None
                Keep = KeepRule.HighestValidationAccuracy
        }
        {
            Settings.defaults with
                Optimizer = OptimizerKind.Sgd
                Momentum = 0.9
                Nesterov = true
                LearningRate = 1.0 / 3.0
                Schedule = ScheduleKind.Cosine
                Seed = UInt64.MaxValue
                Threads = 2
        }
    ]

    testList "stored settings" [
        testCase "parseSettings reads back exactly what describe wrote"
        <| fun () ->
            for s in varied do
                Expect.equal (Sweep.parseSettings "store" "trial" (Sweep.describe s)) s (Sweep.describe s)
        testCase "the default keep rule is not written, so keys from before the rule stay valid"
        <| fun () ->
            Expect.isFalse ((Sweep.describe Settings.defaults).Contains "keep=") "default rule written"

            Expect.stringContains
                (Sweep.describe { Settings.defaults with Keep = KeepRule.HighestValidationAccuracy })
                ";keep=HighestValidationAccuracy"
                "the accuracy rule"
        testCase "an unknown keep rule names the field"
        <| fun () ->
            let text = Sweep.describe Settings.defaults + ";keep=Best"

            try
                Sweep.parseSettings "store" "trial" text |> ignore
                failtest "an unknown rule was read"
            with :? InvalidFileException as e ->
                Expect.stringContains e.Message "'keep'" "names the field"
    ]

let tests =
    testList "Experiment" [ expandTests; keyTests; hashTests; printTests; outlineTests; storedTextTests ]
