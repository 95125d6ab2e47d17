/// Runs an exported ONNX file in ONNX Runtime, the engine most deployments of an ONNX model use.
module Hybrid.Tests.OnnxRuntime

open Microsoft.ML.OnnxRuntime
open Hybrid

/// The graph's output for the data's raw features (the graph standardizes them itself): (rows, P)
/// probabilities, row-major, as Model.probabilities returns them.
let probabilities (path: string) (data: Dataset) : float32[] =
    use session = new InferenceSession(path)

    use input =
        OrtValue.CreateTensorValueFromMemory(Array.copy data.Features, [| int64 data.Rows; int64 data.Columns |])

    use runOptions = new RunOptions()

    use outputs =
        session.Run(runOptions, [| OnnxGraph.inputName |], [| input |], [| OnnxGraph.outputName |])

    (Seq.exactlyOne outputs).GetTensorDataAsSpan<float32>().ToArray()

/// The largest |p − q| over two arrays of probabilities of equal length.
let largestDifference (p: float32[]) (q: float32[]) = Array.map2 (fun a b -> abs (float a - float b)) p q |> Array.max
