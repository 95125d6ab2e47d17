// The main job: a hyperparameter sweep on the built-in digits data — widths, skip kind, optimizer
// and learning rate, 3 seeds per configuration, every core busy — as an adaptive search (TPE proposing
// batches from earlier results, Hyperband stopping losing configurations early), stored in
// runs/digits/sweep.db, its best trials re-run and its decisions re-derived to prove they reproduce
// bit for bit, and reported in runs/digits/report.html.
// Run it again and it resumes: finished trials are kept, cut-off ones continue from their last checkpoint.
// On several machines: set HYBRID_STORE to one PostgreSQL database and run this script on each;
// they share the trials (see README, "Running on several machines").
// Usage: dotnet fsi scripts/sweep.fsx             (HYBRID_SMOKE=1: a tiny sweep, for CI)
//        dotnet fsi scripts/sweep.fsx -- --report  (only the report, from the store as it is now)
#load "_build.fsx"
#load "_load.fsx"

open System
open Hybrid

let smoke = Environment.GetEnvironmentVariable "HYBRID_SMOKE" = "1"

let data = {
    Name = "digits"
    Split =
        Dataset.digits ()
        |> Dataset.split { Train = 0.7; Validation = 0.15; Test = 0.15 } 42UL
}

let sweep = {
    Sweep.create (if smoke then "digits-smoke" else "digits") data with
        Base = {
            Settings.defaults with
                Momentum = 0.9
                Epochs = (if smoke then 3 else Settings.defaults.Epochs)
        }
        Space = [
            M, ints [ 32; 64; 128 ]
            L, ints [ 16; 32; 64 ]
            Skip, skips [ SkipKind.Dense; SkipKind.Diagonal; SkipKind.None ]
            Optimizer, optimizers [ OptimizerKind.Adam; OptimizerKind.AdamW; OptimizerKind.Sgd ]
            LearningRate, LogRange(1e-3, 3e-2)
        ]
        Strategy =
            Strategy.Adaptive {
                Sampler = Sampler.Tpe Tpe.defaults
                Configurations = (if smoke then 4 else 128)
                BatchSize = (if smoke then 4 else 16)
                Pruning = (if smoke then Pruning.Halving(1, 3) else Pruning.Hyperband(4, 3))
                Seed = 0UL
            }
        Seeds = (if smoke then [ 0UL; 1UL ] else [ 0UL; 1UL; 2UL ])
        Notes = "Which widths, skip and optimizer suit the digits? TPE with Hyperband over the space, 3 seeds each."
}

if fsi.CommandLineArgs |> Array.contains "--report" then
    printfn "report: %s" (Sweep.report sweep).Html
    exit 0

printf "%s" (Sweep.outline 3 sweep)
let watch = Diagnostics.Stopwatch.StartNew()
let outcome = Sweep.run sweep
let verified = Sweep.verify (if smoke then 1 else 2) sweep
let decisionsAgree, decisions = Sweep.verifyDecisions sweep
let minutes = watch.Elapsed.TotalMinutes
let epochs = outcome.Trials |> List.sumBy _.History.Length

let ended state =
    outcome.Trials
    |> List.filter (fun t -> t.State = TrialState.Finished state)
    |> List.length

printfn
    "%d trials in %.1f min on %d cores: %d completed, %d pruned at a rung; %d epochs trained by this run, %.0f per minute"
    outcome.Trials.Length
    minutes
    Environment.ProcessorCount
    (ended Completed)
    (ended Pruned)
    outcome.Tally.EpochsRun
    (float outcome.Tally.EpochsRun / minutes)

printfn "%s" (Best.describe outcome.Best)

printfn
    "%d epochs trained in all (%d if every trial ran its %d epochs)"
    epochs
    (outcome.Trials.Length * sweep.Base.Epochs)
    sweep.Base.Epochs

printfn
    "verified bit-identical: %d of %d re-run trials"
    (verified |> List.filter _.Identical |> List.length)
    verified.Length

printfn "decisions: %s" decisions
printfn "report: %s" outcome.Report.Html

if verified |> List.exists (fun v -> not v.Identical) || not decisionsAgree then
    exit 1
