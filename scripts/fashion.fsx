// The seed network on real data at real scale: Fashion-MNIST (Debian's dataset-fashion-mnist; 60,000
// training images cut into 54,000 / 6,000 by a seeded stratified rule, t10k as the test part), with an
// adaptive sweep (TPE, successive halving) over widths, skip, optimizer, learning rate, weight decay
// and batch size, 3 seeds each.
// Usage: dotnet fsi scripts/fashion.fsx               the sweep (HYBRID_SMOKE=1: a tiny one on a few rows)
//        dotnet fsi scripts/fashion.fsx -- --blind    the same space blind (Sobol), every trial to the end
//        dotnet fsi scripts/fashion.fsx -- --optuna   Optuna + PyTorch alone (scripts/fashion_optuna.py)
//        dotnet fsi scripts/fashion.fsx -- --compare  both sweeps and Optuna + PyTorch (scripts/fashion_optuna.py)
//                                                      on the same rows, space and epoch budget: one table
// Sweeps resume from their stores, so --compare after the sweeps only reads them; Optuna's result is
// kept in runs/fashion-optuna/ (delete it to run Optuna again).
#load "_build.fsx"
#load "_load.fsx"

open System
open System.Diagnostics
open System.IO
open Hybrid
open Hybrid.Engine.Training

let smoke = Environment.GetEnvironmentVariable "HYBRID_SMOKE" = "1"
let arguments = fsi.CommandLineArgs |> Set.ofArray

/// Configurations per sweep (the blind sweep and Optuna get as many), and each trial's full budget.
let configurations, maxEpochs = (if smoke then 2, 2 else 40, 20)
/// Configurations per batch: TPE's start-up batch is drawn at random, each later one from the results so far.
let batchSize = if smoke then 2 else 10
let validationShare, splitSeed = 0.1, 42UL

let data =
    let train, test = Dataset.fashionMnist ()
    // The smoke budget trains on the first rows only: the files' order mixes the classes.
    let head count (part: Dataset) = if smoke then Dataset.select [| 0 .. count - 1 |] part else part

    {
        Name = (if smoke then "fashion-mnist (first rows)" else "fashion-mnist")
        Split = Split.ofParts validationShare splitSeed (head 3000 train) (head 1000 test)
    }

let space = [
    M, ints [ 128; 256; 512 ]
    L, ints [ 64; 128; 256 ]
    Skip, skips [ SkipKind.Dense; SkipKind.Diagonal; SkipKind.None ]
    Setting.Optimizer, optimizers [ OptimizerKind.Adam; OptimizerKind.AdamW; OptimizerKind.Sgd ]
    LearningRate, LogRange(1e-4, 3e-2)
    WeightDecay, LogRange(1e-6, 1e-3)
    BatchSize, ints [ 64; 128; 256 ]
]

let sweepNamed name strategy notes = {
    Name = (if smoke then name + "-smoke" else name)
    Data = data
    // Every trial trains its full budget (no early stopping) under a cosine schedule, keeping its
    // epoch of best validation accuracy (the figure the sweep ranks by: the validation loss turns
    // several epochs before the accuracy does); SGD gets the usual momentum.
    Base = {
        Settings.defaults with
            Momentum = 0.9
            Epochs = maxEpochs
            Schedule = ScheduleKind.Cosine
            Keep = KeepRule.HighestValidationAccuracy
            Patience = None
    }
    Space = space
    Strategy = strategy
    Seeds = (if smoke then [ 0UL; 1UL ] else [ 0UL; 1UL; 2UL ])
    Only = []
    Notes = notes
}

/// Four batches of ten, each halved at rungs of 2, 7 and 20 epochs (η = 3): a third of a rung goes
/// on, from its checkpoint, to the same bits. TPE draws the first batch at random (Optuna's 10
/// start-up trials) and proposes each later one from every result stored before it.
let search = {
    Sampler = Sampler.Tpe { Tpe.defaults with Startup = batchSize }
    Configurations = configurations
    BatchSize = batchSize
    Pruning = (if smoke then Pruning.Halving(1, 2) else Pruning.Halving(2, 3))
    Seed = 0UL
}

let adaptive =
    sweepNamed
        "fashion"
        (Strategy.Adaptive search)
        "Fashion-MNIST: which widths, skip, optimizer, learning rate, weight decay and batch size? TPE with successive halving."

let blind =
    sweepNamed
        "fashion-blind"
        (Strategy.Sobol configurations)
        "Fashion-MNIST, the adaptive sweep's space and configuration count, chosen blind (Sobol) and trained to the end: the record to beat."

/// One tool's line of the comparison.
type Line = {
    Tool: string
    Strategy: string
    Configurations: int
    Validation: string
    Test: string
    Epochs: int
    Minutes: float
}

let load () =
    File.ReadAllText("/proc/loadavg").Split(' ')
    |> Array.take 3
    |> String.concat " "

/// Epochs trained and wall time (first start to last finish) of a sweep, from its store.
let lineOf (tool: string) (strategy: string) (outcome: SweepOutcome) =
    let trials = outcome.Trials

    let wall =
        match trials |> List.choose _.StartedUtc, trials |> List.choose _.FinishedUtc with
        | [], _
        | _, [] -> 0.0
        | started, finished -> (List.max finished - List.min started).TotalMinutes

    let best = outcome.Best

    {
        Tool = tool
        Strategy = strategy
        Configurations = trials |> List.distinctBy _.Configuration |> List.length
        Validation =
            best
            |> Option.map (fun b -> ReportFormat.percent b.ValidationAccuracy)
            |> Option.defaultValue "—"
        Test =
            best
            |> Option.map (fun b -> ReportFormat.percent b.TestAccuracy)
            |> Option.defaultValue "—"
        Epochs = trials |> List.sumBy _.History.Length
        Minutes = wall
    }

let runSweep (sweep: Sweep) =
    printf "%s" (Sweep.print sweep)
    printfn "load average before: %s" (load ())
    let outcome = Sweep.run sweep
    printfn "load average after: %s" (load ())

    printfn "%s" (Best.describe outcome.Best)

    let strategy =
        match sweep.Strategy with
        | Strategy.Adaptive _ -> "TPE + successive halving, 3 seeds"
        | Strategy.Grid _
        | Strategy.Random _
        | Strategy.Sobol _ -> "Sobol, every trial to the end, 3 seeds"

    let line = lineOf "Hybrid" strategy outcome

    printfn
        "%d epochs in %.1f min (first start to last finish); report: %s"
        line.Epochs
        line.Minutes
        outcome.Report.Html

    outcome, line

// ---------------------------------------------------------------- Optuna + PyTorch, as a child process

/// The rows of the training images that train and validate, one line each, for the Python side.
let writeRows path =
    let train, _ = Dataset.fashionMnist ()
    let trainRows, validationRows = Split.rows validationShare splitSeed train
    let line name (rows: int[]) = name + " " + String.Join(",", rows)
    Directory.CreateDirectory(Path.GetDirectoryName(path: string)) |> ignore
    File.WriteAllText(path, line "train" trainRows + "\n" + line "validation" validationRows + "\n")

let optuna () =
    let directory = Path.Combine(runsRoot (), "fashion-optuna")

    let result =
        Path.Combine(directory, sprintf "result-%dx%d-cosine-accuracy.txt" configurations maxEpochs)

    if not (File.Exists result) then
        let rows = Path.Combine(directory, "rows.txt")
        writeRows rows
        let info = ProcessStartInfo("/usr/bin/python3", UseShellExecute = false)

        [
            Path.Combine(__SOURCE_DIRECTORY__, "fashion_optuna.py")
            "--rows"
            rows
            "--trials"
            string configurations
            "--max-epochs"
            string maxEpochs
            "--schedule"
            "cosine"
            "--keep"
            "accuracy"
            "--threads"
            string Environment.ProcessorCount
            "--out"
            result
        ]
        |> List.iter info.ArgumentList.Add

        for name in [ "OMP_NUM_THREADS"; "OPENBLAS_NUM_THREADS"; "MKL_NUM_THREADS" ] do
            info.Environment[name] <- string Environment.ProcessorCount

        info.Environment["OMP_WAIT_POLICY"] <- "PASSIVE"
        printfn "Optuna + PyTorch: %s (load average before: %s)" (String.Join(" ", info.ArgumentList)) (load ())
        use child = Process.Start info
        child.WaitForExit()

        if child.ExitCode <> 0 then
            failwithf
                "fashion_optuna.py exited with %d (needs Debian's python3-optuna and python3-torch)"
                child.ExitCode

    let fields =
        (File.ReadAllText result).Split([| ' '; '\n' |], StringSplitOptions.RemoveEmptyEntries)
        |> Array.choose (fun kv ->
            match kv.Split '=' with
            | [| k; v |] -> Some(k, v)
            | _ -> None)
        |> Map.ofArray

    let number key = Double.Parse(fields[key], Globalization.CultureInfo.InvariantCulture)

    {
        Tool = "Optuna 3.1 + PyTorch"
        Strategy = "TPE + Hyperband pruner, 1 seed"
        Configurations = int (number "trials")
        Validation = sprintf "%.2f %% (n=1)" (100.0 * number "validation")
        Test = sprintf "%.2f %% (n=1)" (100.0 * number "test")
        Epochs = int (number "epochs")
        Minutes = number "seconds" / 60.0
    }

let table (lines: Line list) =
    printfn ""
    printfn "| tool | strategy | configurations | best validation accuracy | its test accuracy | epochs | wall time |"
    printfn "|---|---|---|---|---|---|---|"

    for l in lines do
        printfn
            "| %s | %s | %d | %s | %s | %d | %.1f min |"
            l.Tool
            l.Strategy
            l.Configurations
            l.Validation
            l.Test
            l.Epochs
            l.Minutes

    printfn ""

    printfn
        "load average now: %s on %d cores (wall times include whatever else ran meanwhile)"
        (load ())
        Environment.ProcessorCount

if arguments.Contains "--compare" then
    let _, adaptiveLine = runSweep adaptive
    let _, blindLine = runSweep blind
    table [ adaptiveLine; blindLine; optuna () ]
elif arguments.Contains "--blind" then
    runSweep blind |> ignore
elif arguments.Contains "--optuna" then
    table [ optuna () ]
else
    let _, line = runSweep adaptive

    if line.Epochs = 0 then
        exit 1
