// Steady-state throughput of the engine on one network shape: training (gather a shuffled mini-batch,
// forward, backward, SGD step) and inference, in samples per second, with the allocation-free Stepper.
//   dotnet fsi scripts/bench.fsx -- --shape 784,256,128,10 --batch 128 --threads 2 --seconds 10 [--skip dense|diagonal|none]
// It also prints how fast the safetensors reader reads or refuses damaged model files of the shape.
// The last line is machine-readable: train_samples_per_s=<number> infer_samples_per_s=<number>
// HYBRID_SMOKE=1 runs for about a second, for CI.
//
// Comparison with PyTorch in the same run, interleaved, several rounds, medians (needs Debian's
// python3-torch, python3-numpy and libopenblas0-pthread for /usr/bin/python3):
//   dotnet fsi scripts/bench.fsx -- --compare --rounds 3 --seconds 2
//
// With --compare it also times a Fashion-MNIST-sized epoch at 784-256-128-10 (54,000 training rows
// with Adam at batch 128, then evaluation of 6,000 validation and 10,000 test rows), Hybrid's Trainer
// against PyTorch doing the same (random data of that shape).
//
// FLOP per training sample, counting 2·m·n·k per matrix product, per row of the batch: the forward
// products, the weight gradients of every product, and the input gradients of the hidden layers (none
// for X): 2·(2DM + 3ML + 3LP + 2DL), where the 2DL term is the dense skip X·Wsᵀ (0 for the diagonal
// skip and for none). For 784-256-128-10 with the dense skip, Hybrid's default, that is 1,408,512.
#load "_build.fsx"
#load "_load.fsx"
#load "_jit.fsx"

open System
open System.Diagnostics
open System.IO
open Hybrid.Engine.Layers
open Hybrid.Engine.Model
open Hybrid.Engine.Training

type Options = {
    Shape: int[]
    Skip: SkipKind
    Batch: int
    Threads: int
    Seconds: float
    Warmup: float
    Compare: bool
    Rounds: int
}

let usage =
    "expected --shape D,M,L,P --skip dense|diagonal|none --batch B --threads T --seconds S --warmup S, or --compare --rounds R --seconds S"

let rec parse options args =
    match args with
    | "--shape" :: value :: rest -> parse { options with Shape = value.Split ',' |> Array.map int } rest
    | "--skip" :: value :: rest -> parse { options with Skip = Enum.Parse<SkipKind>(value, ignoreCase = true) } rest
    | "--batch" :: value :: rest -> parse { options with Batch = int value } rest
    | "--threads" :: value :: rest -> parse { options with Threads = int value } rest
    | "--seconds" :: value :: rest -> parse { options with Seconds = float value } rest
    | "--warmup" :: value :: rest -> parse { options with Warmup = float value } rest
    | "--compare" :: rest -> parse { options with Compare = true } rest
    | "--rounds" :: value :: rest -> parse { options with Rounds = int value } rest
    | [] -> options
    | other :: _ -> failwithf "unknown argument '%s' (%s)" other usage

let smoke = Environment.GetEnvironmentVariable "HYBRID_SMOKE" = "1"
let arguments = List.ofArray fsi.CommandLineArgs |> List.tail

let defaults = {
    Shape = [| 784; 256; 128; 10 |]
    Skip = SkipKind.Dense
    Batch = 128
    Threads = 1
    Seconds =
        (if smoke then 0.5
         elif List.contains "--compare" arguments then 2.0
         else 10.0)
    Warmup = (if smoke then 0.3 else 1.5)
    Compare = false
    Rounds = 3
}

let options = parse defaults arguments

let shapeOf (widths: int[]) skip = NetworkShape(widths[0], widths[1], widths[2], widths[3], skip)

/// 2·m·n·k per product, per sample: see the header.
let trainFlopPerSample (s: NetworkShape) =
    let skip = if s.Skip = SkipKind.Dense then 2L * int64 s.D * int64 s.L else 0L

    2L
    * (2L * int64 s.D * int64 s.M
       + 3L * int64 s.M * int64 s.L
       + 3L * int64 s.L * int64 s.P
       + skip)

/// Random data of 32 batches: throughput does not depend on the values, only on the shape.
let dataFor =
    let cache =
        Collections.Generic.Dictionary<struct (NetworkShape * int), LabeledData>()

    fun (shape: NetworkShape) batch ->
        match cache.TryGetValue(struct (shape, batch)) with
        | true, data -> data
        | _ ->
            let rng = Rng 1UL
            let rows = batch * 32

            let data =
                LabeledData(
                    Array.init (rows * shape.D) (fun _ -> float32 (rng.NextGaussian())),
                    Array.init rows (fun _ -> rng.NextInt shape.P),
                    shape.D
                )

            cache[struct (shape, batch)] <- data
            data

type Measurement = { Train: float; Infer: float; AllocatedPerStep: float }

/// Calls `work` until `seconds` have passed; returns the calls made and the seconds taken.
let timed seconds (work: unit -> unit) =
    let until = Stopwatch.GetTimestamp() + int64 (seconds * float Stopwatch.Frequency)
    let start = Stopwatch.GetTimestamp()
    let mutable calls = 0

    while Stopwatch.GetTimestamp() < until do
        work ()
        calls <- calls + 1

    struct (calls, Stopwatch.GetElapsedTime(start).TotalSeconds)

/// Warms up (the JIT tiers up) and then measures training and inference for half of `seconds` each.
let measure (shape: NetworkShape) batch threads seconds warmup =
    let data = dataFor shape batch

    let trainOptions =
        TrainingOptions(
            Epochs = 1,
            BatchSize = batch,
            Threads = threads,
            Seed = 1UL,
            Optimizer = OptimizerSettings(Kind = OptimizerKind.Sgd, LearningRate = 1e-3f)
        )

    use stepper = new Stepper(shape, data, trainOptions)
    let batches = data.Rows / batch
    let mutable next = 0

    let infer () =
        let _probabilities =
            stepper.Infer(ReadOnlySpan(data.Features, next * batch * shape.D, batch * shape.D), batch)

        next <- (next + 1) % batches

    let step = fun () -> stepper.Step()
    timed warmup step |> ignore
    timed (min warmup 0.2) infer |> ignore
    let before = GC.GetAllocatedBytesForCurrentThread()
    let struct (steps, trainSeconds) = timed (seconds / 2.0) step
    let allocated = GC.GetAllocatedBytesForCurrentThread() - before
    let struct (calls, inferSeconds) = timed (seconds / 2.0) infer

    {
        Train = float (steps * batch) / trainSeconds
        Infer = float (calls * batch) / inferSeconds
        AllocatedPerStep = float allocated / float steps
    }

/// Random rows of the Fashion-MNIST split's sizes: 54,000 training, 6,000 validation, 10,000 test.
let fashionParts =
    lazy
        (let rng = Rng 2UL

         let part rows =
             LabeledData(
                 Array.init (rows * 784) (fun _ -> float32 (rng.NextGaussian())),
                 Array.init rows (fun _ -> rng.NextInt 10),
                 784
             )

         part 54000, part 6000, part 10000)

/// Seconds for one epoch as a sweep trial runs it: train (Adam, batch 128), validate, then test.
let fashionEpoch threads =
    let train, validation, test = fashionParts.Force()
    let shape = NetworkShape(784, 256, 128, 10, SkipKind.Dense)

    let trainOptions =
        TrainingOptions(
            Epochs = 1,
            BatchSize = 128,
            Threads = threads,
            Seed = 1UL,
            Optimizer = OptimizerSettings(Kind = OptimizerKind.Adam, LearningRate = 1e-3f)
        )

    let watch = Stopwatch.StartNew()
    let result = Trainer.Train(shape, train, validation, trainOptions)
    use kernels = Hybrid.Engine.Kernels.KernelSet.Fast threads
    let network = Network(shape, kernels, 128)
    result.Parameters.CopyTo(network.Parameters, 0)
    Evaluation.Evaluate(network, test) |> ignore
    watch.Elapsed.TotalSeconds

// ---------------------------------------------------------------- PyTorch and NumPy, as child processes

let python = "/usr/bin/python3"
let torchScript = Path.Combine(__SOURCE_DIRECTORY__, "bench_torch.py")

/// Runs bench_torch.py with the thread environment of the issue: OpenBLAS and OpenMP threads set to
/// `threads`, passive OpenMP waiting, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed (for this child only).
let runPython threads (arguments: string list) =
    let info =
        ProcessStartInfo(python, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)

    info.ArgumentList.Add torchScript
    arguments |> List.iter info.ArgumentList.Add

    for name in [ "OMP_NUM_THREADS"; "OPENBLAS_NUM_THREADS"; "MKL_NUM_THREADS" ] do
        info.Environment[name] <- string threads

    info.Environment["OMP_WAIT_POLICY"] <- "PASSIVE"
    info.Environment.Remove "OPENBLAS_CORETYPE" |> ignore
    info.Environment.Remove "OPENBLAS_L2_SIZE" |> ignore

    match
        (try
            Some(Process.Start info)
         with :? ComponentModel.Win32Exception ->
             None)
    with
    | None -> Error $"{python} not found"
    | Some child ->
        use child = child
        let errorsTask = child.StandardError.ReadToEndAsync()
        let output = child.StandardOutput.ReadToEnd()
        child.WaitForExit()

        if child.ExitCode = 0 then
            Ok(output.Trim())
        else
            Error(errorsTask.Result.Trim())

/// "a=1 b=2" → map
let fields (line: string) =
    line.Split(' ', StringSplitOptions.RemoveEmptyEntries)
    |> Array.choose (fun kv ->
        match kv.Split '=' with
        | [| k; v |] -> Some(k, v)
        | _ -> None)
    |> Map.ofArray

let torchMeasure (widths: int[]) (skip: SkipKind) batch threads seconds =
    let skipName = if skip = SkipKind.Dense then "dense" else "none"
    let shapeText = widths |> Array.map string |> String.concat ","

    match
        runPython threads [
            "--shape"
            shapeText
            "--skip"
            skipName
            "--batch"
            string batch
            "--threads"
            string threads
            "--seconds"
            string seconds
        ]
    with
    | Ok line ->
        let f = fields line in

        {
            Train = float f["train_samples_per_s"]
            Infer = float f["infer_samples_per_s"]
            AllocatedPerStep = nan
        }
    | Error message -> failwithf "bench_torch.py failed: %s" message

let torchEpoch threads =
    match runPython threads [ "--epoch"; "--threads"; string threads; "--batch"; "128" ] with
    | Ok line -> let f = fields line in float f["epoch_seconds"]
    | Error message -> failwithf "bench_torch.py --epoch failed: %s" message

let sgemmPeak threads seconds =
    match runPython threads [ "--sgemm"; "--threads"; string threads; "--seconds"; string seconds ] with
    | Ok line -> let f = fields line in float f["sgemm_gflops"]
    | Error message -> failwithf "bench_torch.py --sgemm failed: %s" message

/// Nanoseconds for a cache line to go to the other core and back (two threads passing one counter).
/// It tells how far apart the two cores are in this run: every line that one core writes and the
/// other then reads pays it, so it decides how much a second thread can add (see README, Performance).
let crossCoreRoundTrip () =
    let iterations = 20000L
    let cell = Array.zeroCreate<int64> 16

    let partner =
        Threading.Thread(fun () ->
            for i in 1L .. iterations do
                while Threading.Volatile.Read(&cell[0]) <> 2L * i - 1L do
                    ()

                Threading.Volatile.Write(&cell[0], 2L * i))

    partner.Start()
    let watch = Stopwatch.StartNew()

    for i in 1L .. iterations do
        Threading.Volatile.Write(&cell[0], 2L * i - 1L)

        while Threading.Volatile.Read(&cell[0]) <> 2L * i do
            ()

    partner.Join()
    watch.Elapsed.TotalNanoseconds / float iterations

let median (values: float list) =
    let sorted = List.sort values |> Array.ofList
    let n = sorted.Length

    if n % 2 = 1 then sorted[n / 2] else (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0

let cpu =
    try
        File.ReadLines "/proc/cpuinfo"
        |> Seq.tryFind (fun l -> l.StartsWith "model name")
        |> Option.map (fun l -> (l.Split(':', 2)[1]).Trim())
        |> Option.defaultValue "unknown CPU"
    with _ ->
        "unknown CPU"

let thousands (x: float) = if x >= 1e4 then sprintf "%.0fk" (x / 1e3) else sprintf "%.1fk" (x / 1e3)

let compare () =
    if options.Skip = SkipKind.Diagonal then
        failwith "--compare supports --skip dense (the default) or none; PyTorch has no diagonal skip here"

    match runPython 1 [ "--versions" ] with
    | Error message ->
        eprintfn "%s" message

        eprintfn
            "Comparison skipped: PyTorch/NumPy are not available for %s, or would run on the reference BLAS (apt-get install python3-torch libopenblas0-pthread)."
            python

        exit 0
    | Ok versions ->
        let shapes = [
            [| 784; 256; 128; 10 |], "MNIST 784-256-128-10"
            [| 64; 64; 32; 10 |], "digits 64-64-32-10"
        ]

        let batchSizes = [ 32; 128; 512 ]
        let threadCounts = [ 1; 2 ]
        let seconds = options.Seconds
        let warmup = min options.Warmup 0.5
        Jit.waitForQuietJit ()
        let watch = Stopwatch.StartNew()
        eprintfn "warming up the JIT..."
        measure (shapeOf (fst shapes.Head) options.Skip) 128 1 0.2 1.5 |> ignore

        let results =
            Collections.Generic.Dictionary<string * int * int * string, ResizeArray<Measurement>>()

        let add key value =
            if not (results.ContainsKey key) then
                results[key] <- ResizeArray()

            results[key].Add value

        let peaks = Collections.Generic.Dictionary<int, ResizeArray<float>>()
        let roundTrips = ResizeArray<float>()
        let epochs = Collections.Generic.Dictionary<string * int, ResizeArray<float>>()

        let addEpoch key seconds =
            if not (epochs.ContainsKey key) then
                epochs[key] <- ResizeArray()

            epochs[key].Add seconds

        let mutable allocated = 0.0

        for round in 1 .. options.Rounds do
            for t in threadCounts do
                if not (peaks.ContainsKey t) then
                    peaks[t] <- ResizeArray()

                peaks[t].Add(sgemmPeak t 1.0)

            roundTrips.Add(crossCoreRoundTrip ())

            for widths, name in shapes do
                for batch in batchSizes do
                    for t in threadCounts do
                        let hybrid = measure (shapeOf widths options.Skip) batch t seconds warmup
                        allocated <- max allocated hybrid.AllocatedPerStep
                        add (name, batch, t, "hybrid") hybrid
                        let torch = torchMeasure widths options.Skip batch t seconds
                        add (name, batch, t, "torch") torch

                        eprintfn
                            "round %d, %s, batch %d, %d thread(s): Hybrid %.0f, PyTorch %.0f samples/s (%.0f s)"
                            round
                            name
                            batch
                            t
                            hybrid.Train
                            torch.Train
                            watch.Elapsed.TotalSeconds

            for t in threadCounts do
                let hybrid, torch = fashionEpoch t, torchEpoch t
                addEpoch ("hybrid", t) hybrid
                addEpoch ("torch", t) torch

                eprintfn
                    "round %d, Fashion-MNIST-sized epoch, %d thread(s): Hybrid %.1f s, PyTorch %.1f s (%.0f s)"
                    round
                    t
                    hybrid
                    torch
                    watch.Elapsed.TotalSeconds

        let med key pick = median [ for m in results[key] -> pick m ]

        let peak t = Seq.max peaks[t] // a ceiling: the best round
        printfn ""

        printfn
            "%s (%d cores), .NET %s, %s; %s skip; %d rounds, %.1f s per measurement, medians; %s"
            cpu
            Environment.ProcessorCount
            (string Environment.Version)
            versions
            (string options.Skip)
            options.Rounds
            seconds
            (DateTime.UtcNow.ToString "yyyy-MM-dd")

        printfn
            "sgemm peak (NumPy/OpenBLAS, n=1536, best round): %.0f GFLOP/s on 1 thread, %.0f on 2; allocated bytes per Hybrid step: %.0f"
            (peak 1)
            (peak 2)
            allocated

        printfn
            "cross-core round trip of a cache line, per round: %s ns (the longer, the more every line one core hands the other costs, and the less a second thread adds)"
            (roundTrips |> Seq.map (sprintf "%.0f") |> String.concat ", ")

        printfn ""

        printfn
            "| training, samples/s | Hybrid 1T | Hybrid 2T | PyTorch 1T | PyTorch 2T | Hybrid 1T ÷ PyTorch best | Hybrid 2T ÷ PyTorch best | Hybrid GFLOP/s 1T / 2T (%% of sgemm peak) | inference: Hybrid best ÷ PyTorch best |"

        printfn "|---|---|---|---|---|---|---|---|---|"

        for widths, name in shapes do
            let flop = float (trainFlopPerSample (shapeOf widths options.Skip))

            for batch in batchSizes do
                let train who t = med (name, batch, t, who) (fun m -> m.Train)

                let infer who t = med (name, batch, t, who) (fun m -> m.Infer)

                let torchBest = max (train "torch" 1) (train "torch" 2)

                let inferRatio =
                    max (infer "hybrid" 1) (infer "hybrid" 2)
                    / max (infer "torch" 1) (infer "torch" 2)

                let g t = train "hybrid" t * flop / 1e9

                printfn
                    "| %s, batch %d | %s | %s | %s | %s | %.2f× | %.2f× | %.0f (%.0f%%) / %.0f (%.0f%%) | %.2f× |"
                    name
                    batch
                    (thousands (train "hybrid" 1))
                    (thousands (train "hybrid" 2))
                    (thousands (train "torch" 1))
                    (thousands (train "torch" 2))
                    (train "hybrid" 1 / torchBest)
                    (train "hybrid" 2 / torchBest)
                    (g 1)
                    (100.0 * g 1 / peak 1)
                    (g 2)
                    (100.0 * g 2 / peak 2)
                    inferRatio

        let epoch who t = median (List.ofSeq epochs[(who, t)])
        let best who = min (epoch who 1) (epoch who 2)
        printfn ""

        printfn
            "| Fashion-MNIST-sized epoch, seconds (54,000 rows, Adam, batch 128, then 6,000 validation and 10,000 test rows) | Hybrid 1T | Hybrid 2T | PyTorch 1T | PyTorch 2T | PyTorch best ÷ Hybrid best |"

        printfn "|---|---|---|---|---|---|"

        printfn
            "| 784-256-128-10, dense skip | %.2f | %.2f | %.2f | %.2f | %.2f× |"
            (epoch "hybrid" 1)
            (epoch "hybrid" 2)
            (epoch "torch" 1)
            (epoch "torch" 2)
            (best "torch" / best "hybrid")

        eprintfn "total %.0f s" watch.Elapsed.TotalSeconds

/// How fast the safetensors reader gets through damaged files (a speed the fuzz tests rely on; speed
/// targets live here, not in tests): a model file of the benchmark's shape with a few bits flipped, or its header length
/// overwritten by an absurd value that a trusting reader would allocate or scan. Each is read or refused.
let damagedFilesPerSecond (shape: NetworkShape) count =
    let tensor name (rows: int) (columns: int) : Hybrid.Safetensors.Tensor = {
        Name = name
        Shape = [ rows; columns ]
        Data = Array.zeroCreate (rows * columns)
    }

    let valid =
        Hybrid.Safetensors.toBytes {
            Tensors = [
                tensor "W1" shape.M shape.D
                tensor "W2" shape.L shape.M
                tensor "W3" shape.P shape.L
            ]
            Metadata = Map [ ("format", "hybrid") ]
        }

    let random = Random 20240917

    let damaged i =
        let bytes = Array.copy valid

        if i % 2 = 0 then
            for _ in 1 .. random.Next(1, 5) do
                let at = random.Next bytes.Length
                bytes[at] <- bytes[at] ^^^ (1uy <<< random.Next 8)
        else
            Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(0, 8), uint64 (random.NextInt64()))

        bytes

    let watch = Stopwatch.StartNew()

    for i in 1..count do
        try
            Hybrid.Safetensors.ofBytes "damaged" (damaged i) |> ignore
        with :? Hybrid.InvalidFileException ->
            ()

    float count / watch.Elapsed.TotalSeconds

let single () =
    Jit.waitForQuietJit ()
    let shape = shapeOf options.Shape options.Skip
    let m = measure shape options.Batch options.Threads options.Seconds options.Warmup
    let flop = float (trainFlopPerSample shape)

    printfn
        "shape %O, batch %d, %d thread(s), %d rows of random data"
        shape
        options.Batch
        options.Threads
        (dataFor shape options.Batch).Rows

    printfn "allocated bytes per training step: %g" m.AllocatedPerStep

    printfn
        "training: %.0f FLOP per sample = 2·(2DM + 3ML + 3LP%s), %.1f GFLOP/s"
        flop
        (if shape.Skip = SkipKind.Dense then " + 2DL" else "")
        (m.Train * flop / 1e9)

    if not smoke && m.AllocatedPerStep <> 0.0 then
        eprintfn "warning: the training step allocated; expected 0 bytes per step"

    printfn
        "safetensors reader: %.0f damaged model files of this shape read or refused per second"
        (damagedFilesPerSecond shape (if smoke then 200 else 2000))

    printfn "train_samples_per_s=%.0f infer_samples_per_s=%.0f" m.Train m.Infer

if options.Compare then compare () else single ()
