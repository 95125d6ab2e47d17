/// The same bits on every machine: one SHA-256 over the final weights of four short digits runs,
/// checked against a committed value here and again in child processes limited to 256-bit vectors,
/// to 128-bit vectors and to scalars (README, Determinism, says why every path gives the same bits).
module Hybrid.Tests.WeightsDigestTests

open System
open System.Buffers.Binary
open System.Diagnostics
open System.Runtime.Intrinsics
open System.Security.Cryptography
open Expecto
open Hybrid
open Hybrid.Engine.Model
open Hybrid.Engine.Training

/// Produced by `digest ()` on AVX-512 (Zen 5), and the same with AVX-512, AVX2 or all SIMD turned off.
/// A kernel change that moves any bit of any weight changes it: if that change is meant, replace it.
let private expected =
    "04b8070c8a09a0ae2c7b5afd73e9b7680a72f4e2544cbe11daf88eacd7ce6721"

// M = 192 and a batch of 200 make products summed over k > 128, where the kernels cut k into blocks;
// L = 40 and the last batch's 57 rows leave edge tiles on both sides of the micro-kernel.
let private runs = [
    for skip in [ SkipKind.Dense; SkipKind.Diagonal ] do
        for optimizer, rate, momentum in [ OptimizerKind.Sgd, 0.05, 0.9; OptimizerKind.Adam, 3e-3, 0.0 ] ->
            {
                Settings.defaults with
                    M = 192
                    L = 40
                    Skip = skip
                    Optimizer = optimizer
                    LearningRate = rate
                    Momentum = momentum
                    WeightDecay = 1e-4
                    BatchSize = 200
                    Epochs = 3
                    Patience = None
            }
]

/// SHA-256 of every run's final parameters, in order, each float as its 4 little-endian bytes.
let digest () =
    use sha = IncrementalHash.CreateHash HashAlgorithmName.SHA256
    let bytes = Array.zeroCreate<byte> 4

    for settings in runs do
        let model, _ = Model.fit settings Common.digits.Value.Split

        for w in model.Parameters do
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(), w)
            sha.AppendData bytes

    Convert.ToHexStringLower(sha.GetHashAndReset())

/// The child's work (tests/Hybrid.Tests run with `--weights-digest`): one line naming the widest
/// vectors the runtime accelerates, then the digest.
let child () =
    printfn
        "vector512=%b vector256=%b digest=%s"
        Vector512.IsHardwareAccelerated
        Vector256.IsHardwareAccelerated
        (digest ())

    0

/// Runs this program with `--weights-digest` under one extra environment variable; returns its line.
let private childLine (variable: string) (value: string) =
    let info =
        ProcessStartInfo("dotnet", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)

    [ Reflection.Assembly.GetExecutingAssembly().Location; "--weights-digest" ]
    |> List.iter info.ArgumentList.Add

    info.Environment[variable] <- value
    use child = Process.Start info |> nonNull
    let errors = child.StandardError.ReadToEndAsync()
    let output = child.StandardOutput.ReadToEnd()
    child.WaitForExit()

    if child.ExitCode <> 0 then
        failtestf "the digest child exited with %d: %s" child.ExitCode errors.Result

    output.Trim()

let tests =
    testList "weights digest" [
        testCase "four short digits runs end with the committed weights"
        <| fun () -> Expect.equal (digest ()) expected "SHA-256 of the final weights"
        // .NET 10 reads DOTNET_EnableAVX512; the older DOTNET_EnableAVX512F no longer turns 512-bit vectors off.
        testCase "the AVX2 path ends with the same weights"
        <| fun () ->
            let line = childLine "DOTNET_EnableAVX512" "0"

            Expect.equal
                line
                $"vector512=false vector256=true digest={expected}"
                "the child ran on 256-bit vectors and got the committed digest"
        // Without AVX2 (and so without FMA) 256-bit operations are emulated on 128-bit vectors.
        testCase "the 128-bit path ends with the same weights"
        <| fun () ->
            let line = childLine "DOTNET_EnableAVX2" "0"

            Expect.equal
                line
                $"vector512=false vector256=false digest={expected}"
                "the child ran on 128-bit vectors and got the committed digest"
        // Without any hardware intrinsics every vector operation is emulated in scalar code.
        testCase "the scalar path ends with the same weights"
        <| fun () ->
            let line = childLine "DOTNET_EnableHWIntrinsic" "0"

            Expect.equal
                line
                $"vector512=false vector256=false digest={expected}"
                "the child ran without SIMD and got the committed digest"
    ]
