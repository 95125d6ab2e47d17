// Steady-state throughput of the engine on one network shape: training (forward, backward and
// optimizer step on shuffled mini-batches) and inference, in samples per second.
// Usage: dotnet fsi scripts/bench.fsx -- --shape 784,256,128,10 --batch 128 --threads 2 --seconds 10
// The last line is machine-readable: train_samples_per_s=<number> infer_samples_per_s=<number>
#load "_build.fsx"
#load "_load.fsx"

open System
open System.Diagnostics
open Hybrid.Engine.Kernels
open Hybrid.Engine.Model
open Hybrid.Engine.Training

type Options = { Shape: int[]; Batch: int; Threads: int; Seconds: float }

let rec parse options args =
    match args with
    | "--shape" :: value :: rest -> parse { options with Shape = value.Split ',' |> Array.map int } rest
    | "--batch" :: value :: rest -> parse { options with Batch = int value } rest
    | "--threads" :: value :: rest -> parse { options with Threads = int value } rest
    | "--seconds" :: value :: rest -> parse { options with Seconds = float value } rest
    | [] -> options
    | other :: _ -> failwithf "unknown argument '%s' (expected --shape D,M,L,P --batch B --threads T --seconds S)" other

let smoke = Environment.GetEnvironmentVariable "HYBRID_SMOKE" = "1"
let defaults = { Shape = [| 784; 256; 128; 10 |]; Batch = 128; Threads = 1; Seconds = (if smoke then 0.5 else 10.0) }
let options = parse defaults (List.ofArray fsi.CommandLineArgs |> List.tail)
let shape = NetworkShape(options.Shape[0], options.Shape[1], options.Shape[2], options.Shape[3], SkipKind.Dense)

/// Random data: throughput does not depend on the values, only on the shape.
let data =
    let rng = Rng 1UL
    let rows = options.Batch * 64
    LabeledData(Array.init (rows * shape.D) (fun _ -> float32 (rng.NextGaussian())), Array.init rows (fun _ -> rng.NextInt shape.P), shape.D)

/// Runs `work` (which processes `samples` samples) for the time budget after one warm-up round.
let samplesPerSecond (samples: int) (work: unit -> unit) =
    work ()
    let watch = Stopwatch.StartNew()
    let mutable rounds = 0
    while watch.Elapsed.TotalSeconds < options.Seconds / 2.0 do
        work ()
        rounds <- rounds + 1
    float (rounds * samples) / watch.Elapsed.TotalSeconds

let trainOptions = TrainingOptions(Epochs = 1, BatchSize = options.Batch, Threads = options.Threads, Optimizer = OptimizerSettings(Kind = OptimizerKind.Sgd, LearningRate = 1e-3f))
let train = samplesPerSecond data.Rows (fun () -> Trainer.Train(shape, data, null, trainOptions) |> ignore)

let infer =
    use kernels = KernelSet.Fast options.Threads
    let network = Network(shape, kernels, options.Batch)
    samplesPerSecond data.Rows (fun () -> Evaluation.PredictProbabilities(network, data.Features, data.Rows) |> ignore)

printfn "shape %O, batch %d, %d thread(s), %d rows per round" shape options.Batch options.Threads data.Rows
printfn "train_samples_per_s=%.0f infer_samples_per_s=%.0f" train infer
