// Two builds of the engine in one process, their rounds alternated, so both see the same machine
// state: training throughput of each, and the paired ratio new ÷ old. On a host whose speed drifts
// from minute to minute, this is the measurement that can tell a 5% change from noise.
//   dotnet fsi scripts/bench_builds.fsx -- --old-commit bda75b1 [--threads 2] [--batch 128]
//       [--shape 784,256,128,10] [--optimizer sgd|adam] [--decay 1e-4] [--rounds 12] [--seconds 0.4]
// --old-commit builds that commit's engine in a temporary git worktree; --old PATH takes a built
// Hybrid.Engine.dll instead. The new build is this checkout's. HYBRID_SMOKE=1 compares this build
// with itself for a moment, for CI.
#load "_build.fsx"
#load "_jit.fsx"

open System
open System.Diagnostics
open System.IO
open System.Runtime.Loader
open System.Security.Cryptography

type Options = {
    Old: string option
    OldCommit: string option
    Shape: int[]
    Batch: int
    Threads: int
    Optimizer: string
    Decay: float32
    Rounds: int
    Seconds: float
}

let usage =
    "expected --old-commit REV or --old PATH, and optionally --shape D,M,L,P --batch B --threads T --optimizer sgd|adam --decay λ --rounds R --seconds S"

let rec parse options args =
    match args with
    | "--old" :: value :: rest -> parse { options with Old = Some value } rest
    | "--old-commit" :: value :: rest -> parse { options with OldCommit = Some value } rest
    | "--shape" :: value :: rest -> parse { options with Shape = value.Split ',' |> Array.map int } rest
    | "--batch" :: value :: rest -> parse { options with Batch = int value } rest
    | "--threads" :: value :: rest -> parse { options with Threads = int value } rest
    | "--optimizer" :: ("sgd" | "adam" as value) :: rest -> parse { options with Optimizer = value } rest
    | "--decay" :: value :: rest -> parse { options with Decay = float32 value } rest
    | "--rounds" :: value :: rest -> parse { options with Rounds = int value } rest
    | "--seconds" :: value :: rest -> parse { options with Seconds = float value } rest
    | [] -> options
    | other :: _ -> failwithf "unknown argument '%s' (%s)" other usage

let smoke = Environment.GetEnvironmentVariable "HYBRID_SMOKE" = "1"
let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, ".."))

let thisBuild =
    Path.Combine(root, "src", "Hybrid", "bin", "Release", "net10.0", "Hybrid.Engine.dll")

let options =
    parse
        {
            Old = None
            OldCommit = None
            Shape = [| 784; 256; 128; 10 |]
            Batch = 128
            Threads = 2
            Optimizer = "sgd"
            Decay = 0f
            Rounds = (if smoke then 2 else 12)
            Seconds = (if smoke then 0.05 else 0.4)
        }
        (List.ofArray fsi.CommandLineArgs |> List.tail)

let runOrFail (file: string) (arguments: string list) =
    let info =
        ProcessStartInfo(file, WorkingDirectory = root, RedirectStandardOutput = true)

    arguments |> List.iter info.ArgumentList.Add
    use child = Process.Start info
    let output = child.StandardOutput.ReadToEnd()
    child.WaitForExit()

    if child.ExitCode <> 0 then
        failwithf "%s %s failed (exit code %d):\n%s" file (String.concat " " arguments) child.ExitCode output

/// The engine of `commit`, built in a temporary worktree and copied out; the worktree is removed.
let buildCommit (commit: string) =
    let worktree =
        Path.Combine(Path.GetTempPath(), $"hybrid-{commit}-{Guid.NewGuid():N}")

    let output =
        Path.Combine(Path.GetTempPath(), $"hybrid-engine-{commit}-{Guid.NewGuid():N}")

    eprintfn "building the engine of %s..." commit
    runOrFail "git" [ "worktree"; "add"; "--detach"; worktree; commit ]

    try
        runOrFail "dotnet" [
            "build"
            Path.Combine(worktree, "src", "Hybrid.Engine")
            "-c"
            "Release"
            "-o"
            output
        ]

        Path.Combine(output, "Hybrid.Engine.dll")
    finally
        runOrFail "git" [ "worktree"; "remove"; "--force"; worktree ]

/// One build's stepper, reached by reflection: each build has its own copy of every engine type.
type Build(name: string, path: string) =
    let assembly = AssemblyLoadContext(name).LoadFromAssemblyPath(Path.GetFullPath path)
    let engineType (typeName: string) = assembly.GetType("Hybrid.Engine." + typeName, true)

    let create typeName (arguments: obj[]) = Activator.CreateInstance(engineType typeName, arguments)

    let init (target: obj) (settings: (string * obj) list) =
        for property, value in settings do
            target.GetType().GetProperty(property).SetValue(target, value)

        target

    member _.Name = name

    /// A stepper on `rows` random rows (drawn by .NET's generator, the same for both builds).
    member _.Stepper(o: Options, rows: int) =
        let s = o.Shape
        let dense = Enum.Parse(engineType "Layers.SkipKind", "Dense")

        let shape =
            create "Model.NetworkShape" [| box s[0]; box s[1]; box s[2]; box s[3]; dense |]

        let random = Random 1

        let features =
            Array.init (rows * s[0]) (fun _ -> float32 (random.NextDouble() * 2.0 - 1.0))

        let labels = Array.init rows (fun _ -> random.Next s[3])
        let data = create "Training.LabeledData" [| box features; box labels; box s[0] |]

        let kind =
            Enum.Parse(engineType "Training.OptimizerKind", (if o.Optimizer = "adam" then "Adam" else "Sgd"))

        let optimizer =
            init (create "Training.OptimizerSettings" [||]) [
                "Kind", kind
                "LearningRate", box 1e-3f
                "WeightDecay", box o.Decay
            ]

        let training =
            init (create "Training.TrainingOptions" [||]) [
                "Epochs", box 1
                "BatchSize", box o.Batch
                "Threads", box o.Threads
                "Seed", box 1UL
                "Optimizer", optimizer
            ]

        create "Training.Stepper" [| shape; data; training |]

/// SHA-256 of the parameters after 100 steps: the two builds must agree bit for bit.
let digest (build: Build) =
    let stepper = build.Stepper(options, options.Batch * 8)
    let step = Delegate.CreateDelegate(typeof<Action>, stepper, "Step") :?> Action

    for _ in 1..100 do
        step.Invoke()

    let network = stepper.GetType().GetProperty("Network").GetValue stepper

    let parameters =
        network.GetType().GetProperty("Parameters").GetValue network :?> float32[]

    (stepper :?> IDisposable).Dispose()
    let bytes = Array.zeroCreate<byte>(parameters.Length * 4)
    Buffer.BlockCopy(parameters, 0, bytes, 0, bytes.Length)
    Convert.ToHexString(SHA256.HashData bytes)[..15]

/// Samples per second of `step` for `seconds`.
let rate (step: Action) seconds =
    let watch = Stopwatch.StartNew()
    let mutable steps = 0

    while watch.Elapsed.TotalSeconds < seconds do
        step.Invoke()
        steps <- steps + 1

    float (steps * options.Batch) / watch.Elapsed.TotalSeconds

let median (values: float seq) =
    let sorted = Seq.sort values |> Array.ofSeq
    sorted[sorted.Length / 2]

let oldPath =
    match options.OldCommit, options.Old with
    | Some commit, _ -> buildCommit commit
    | None, Some path -> path
    | None, None when smoke -> thisBuild
    | None, None -> failwith usage

let builds = [| Build("old", oldPath); Build("new", thisBuild) |]
let digests = builds |> Array.map digest

let steps =
    builds
    |> Array.map (fun b ->
        Delegate.CreateDelegate(typeof<Action>, b.Stepper(options, options.Batch * 32), "Step") :?> Action)

Jit.waitForQuietJit ()

for step in steps do
    rate step (if smoke then 0.1 else 1.0) |> ignore

let rates = Array.init builds.Length (fun _ -> ResizeArray<float>())

for _ in 1 .. options.Rounds do
    for i in 0 .. builds.Length - 1 do
        rate steps[i] 0.05 |> ignore
        rates[i].Add(rate steps[i] options.Seconds)

let ratios = Seq.map2 (fun n o -> n / o) rates[1] rates[0]

printfn
    "shape %s, batch %d, %d thread(s), %s, weight decay %g; %d alternated rounds of %.2f s"
    (options.Shape |> Array.map string |> String.concat ",")
    options.Batch
    options.Threads
    options.Optimizer
    options.Decay
    options.Rounds
    options.Seconds

for i in 0 .. builds.Length - 1 do
    printfn
        "%s (%s): %.0f samples/s, weights %s"
        builds[i].Name
        (if i = 0 then oldPath else thisBuild)
        (median rates[i])
        digests[i]

printfn
    "paired ratio new ÷ old: %.3f (rounds: %s)"
    (median ratios)
    (ratios |> Seq.map (sprintf "%.2f") |> String.concat " ")

if digests[0] <> digests[1] then
    printfn "the builds' weights differ after 100 steps: not the same bits"
