/// ONNX export: the exported graph, run in ONNX Runtime, gives Hybrid's probabilities for every skip
/// kind and shape of the diagonal skip; Debian's ONNX checker accepts it; a damaged model file is
/// refused with the loader's error.
module Hybrid.Tests.OnnxTests

open System
open System.IO
open System.Text.Json
open Expecto
open Microsoft.ML.OnnxRuntime
open Hybrid
open Hybrid.Tests.Common

/// float32 arithmetic in another order (ONNX Runtime's kernels): agreement to 1e-5, as the issue asks.
let private tolerance = 1e-5

/// Each skip kind, and the diagonal skip with D = 64 cut by a Slice (L < D), whole (L = D) and
/// padded with zeros (L > D).
let private cases = [
    "dense skip", SkipKind.Dense, 32
    "diagonal skip, L < D", SkipKind.Diagonal, 32
    "diagonal skip, L = D", SkipKind.Diagonal, 64
    "diagonal skip, L > D", SkipKind.Diagonal, 96
    "no skip", SkipKind.None, 32
]

let private trained =
    cases
    |> List.map (fun (name, skip, l) ->
        let settings = {
            Settings.defaults with
                M = 32
                L = l
                Skip = skip
                Epochs = 8
                Patience = None
        }

        name, lazy (fst (Model.fit settings digits.Value.Split)))
    |> Map.ofList

let private withFolder (body: string -> unit) =
    let folder =
        Path.Combine(Path.GetTempPath(), "hybrid-onnx-" + Guid.NewGuid().ToString "N")

    try
        body folder
    finally
        if Directory.Exists folder then
            Directory.Delete(folder, true)

let private exported (model: Model) (body: string -> unit) =
    withFolder (fun folder ->
        let path = Path.Combine(folder, "model.onnx")
        ModelFile.exportOnnx path model
        body path)

let private agrees (model: Model) (data: Dataset) =
    exported model (fun path ->
        let hybrid = Model.probabilities model data
        let runtime = OnnxRuntime.probabilities path data
        Expect.equal runtime.Length hybrid.Length "one probability per row and class"
        let difference = OnnxRuntime.largestDifference runtime hybrid
        Expect.isLessThanOrEqual difference tolerance (sprintf "max |p_onnx − p_hybrid| over %d rows" data.Rows))

/// Exits non-zero, with the checker's message, on any problem the full check (with strict shape
/// inference) finds; prints the output's shape as the checker infers it.
let private checker =
    """
import sys, onnx
model = onnx.load(sys.argv[1])
onnx.checker.check_model(model, full_check=True)
inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
print([d.dim_param or d.dim_value for d in inferred.graph.output[0].type.tensor_type.shape.dim])
"""

let private perCase = [
    for name, _, _ in cases do
        let model = trained[name]

        testCase (sprintf "ONNX Runtime matches Hybrid to 1e-5 on the digits test rows (%s)" name)
        <| fun () -> agrees (model.Force()) digits.Value.Split.Test

        testCase (sprintf "the ONNX checker accepts the graph, full check (%s)" name)
        <| fun () ->
            Python.withOnnx (fun () ->
                exported (model.Force()) (fun path ->
                    let shape = Python.output [ "-c"; checker; path ]
                    Expect.equal (shape.Trim()) "['batch', 10]" "output [batch, P]"))
]

let private dense () = trained["dense skip"].Force()

let private graphTests = [
    testCase "one row runs through the same graph as many"
    <| fun () -> agrees (dense ()) (Dataset.select [| 0 |] digits.Value.Split.Test)
    testCase "a model without preprocessing feeds its input straight to the first layer"
    <| fun () -> agrees { dense () with Preprocessing = None } digits.Value.Split.Test
    testCase "the input is float32 [batch, D] and the output [batch, P], batch symbolic"
    <| fun () ->
        exported (dense ()) (fun path ->
            use session = new InferenceSession(path)
            let input = session.InputMetadata[OnnxGraph.inputName]
            let output = session.OutputMetadata[OnnxGraph.outputName]
            Expect.equal input.ElementType typeof<float32> "input type"
            Expect.sequenceEqual input.Dimensions [| -1; 64 |] "input dimensions"
            Expect.sequenceEqual input.SymbolicDimensions [| "batch"; "" |] "input's symbolic dimension"
            Expect.sequenceEqual output.Dimensions [| -1; 10 |] "output dimensions"
            Expect.sequenceEqual output.SymbolicDimensions [| "batch"; "" |] "output's symbolic dimension")
    testCase "the metadata holds the class names and the model file's configuration"
    <| fun () ->
        let model = dense ()

        exported model (fun path ->
            use session = new InferenceSession(path)
            let metadata = session.ModelMetadata.CustomMetadataMap

            Expect.sequenceEqual
                (JsonSerializer.Deserialize<string[]> metadata["class_names"])
                model.ClassNames
                "class names"

            Expect.equal metadata["hybrid"] (ModelFile.toCheckpoint model).Metadata["hybrid"] "configuration"
            Expect.equal session.ModelMetadata.ProducerName "Hybrid" "producer")
]

let private fileTests = [
    testCase "a model file exports to the same bytes as the model it holds"
    <| fun () ->
        withFolder (fun folder ->
            let modelPath = Path.Combine(folder, "model.safetensors")
            ModelFile.save modelPath (dense ())
            ModelFile.exportOnnxFrom modelPath (Path.Combine(folder, "from-file.onnx"))
            ModelFile.exportOnnx (Path.Combine(folder, "from-model.onnx")) (dense ())

            Expect.sequenceEqual
                (File.ReadAllBytes(Path.Combine(folder, "from-file.onnx")))
                (File.ReadAllBytes(Path.Combine(folder, "from-model.onnx")))
                "bytes")
    testCase "a model file that fails validation gives the loader's error and writes nothing"
    <| fun () ->
        withFolder (fun folder ->
            let modelPath = Path.Combine(folder, "model.safetensors")
            let onnxPath = Path.Combine(folder, "model.onnx")
            let checkpoint = ModelFile.toCheckpoint (dense ())

            Safetensors.write modelPath {
                checkpoint with
                    Tensors = checkpoint.Tensors |> List.filter (fun t -> t.Name <> "W2")
            }

            let loader =
                raised<InvalidFileException>(fun () -> ModelFile.load modelPath |> ignore)

            let export =
                raised<InvalidFileException>(fun () -> ModelFile.exportOnnxFrom modelPath onnxPath)

            Expect.equal export.Message loader.Message "the loader's message"
            Expect.stringContains export.Message "tensor 'W2': missing" "names the problem"
            Expect.isFalse (File.Exists onnxPath) "no ONNX file written")
]

let tests = testList "ONNX export" (perCase @ graphTests @ fileTests)
