module Hybrid.Tests.ModelTests

open System
open System.IO
open System.Text.Json
open Expecto
open Hybrid
open Hybrid.Engine.Model
open Hybrid.Engine.Training

let private fractions: Fractions = { Train = 0.7; Validation = 0.15; Test = 0.15 }

let private testAccuracy settings (data: Dataset) seed =
    let split = data |> Dataset.split fractions seed
    let model, _ = Model.fit settings split
    snd (Model.evaluate model split.Test)

/// The brief's accuracy bars, with the default settings, on several held-out splits each.
let private accuracyTests =
    testList "accuracy with default settings" [
        for seed in [ 42UL; 1UL; 2UL ] do
            testCase (sprintf "digits ≥ 96%% on test split %d" seed)
            <| fun () ->
                let accuracy = testAccuracy Settings.defaults (Dataset.digits ()) seed
                Expect.isGreaterThanOrEqual accuracy 0.96 "digits test accuracy"
        for seed in [ 42UL; 1UL; 2UL; 3UL; 4UL ] do
            testCase (sprintf "iris ≥ 95%% on test split %d" seed)
            <| fun () ->
                let accuracy = testAccuracy Settings.defaults (Dataset.iris ()) seed
                Expect.isGreaterThanOrEqual accuracy 0.95 "iris test accuracy"
    ]

let private irisModel =
    lazy
        (let split = Dataset.iris () |> Dataset.split fractions 42UL

         fst (Model.fit { Settings.defaults with Skip = SkipKind.Diagonal } split), split)

let private withTempFile (body: string -> unit) =
    let dir =
        Path.Combine(Path.GetTempPath(), "hybrid-model-" + Guid.NewGuid().ToString "N")

    try
        body (Path.Combine(dir, "model.safetensors"))
    finally
        if Directory.Exists dir then
            Directory.Delete(dir, true)

let private determinismTests =
    testList "determinism" [
        testCase "the same settings give the same bits, with 1 or 2 threads"
        <| fun () ->
            let split = Dataset.digits () |> Dataset.split fractions 42UL

            let settings = { Settings.defaults with Epochs = 5; Patience = None }

            let one, oneResult = Model.fit settings split
            let again, againResult = Model.fit settings split
            let two, twoResult = Model.fit { settings with Threads = 2 } split
            Expect.sequenceEqual again.Parameters one.Parameters "run after run"
            Expect.sequenceEqual two.Parameters one.Parameters "1 vs 2 threads"
            Expect.sequenceEqual againResult.History oneResult.History "metrics run after run"
            Expect.sequenceEqual twoResult.History oneResult.History "metrics with 2 threads"
        testCase "a different seed gives different weights"
        <| fun () ->
            let split = Dataset.iris () |> Dataset.split fractions 42UL

            let settings = { Settings.defaults with Epochs = 2; Patience = None }

            let a, _ = Model.fit settings split
            let b, _ = Model.fit { settings with Seed = 1UL } split
            Expect.notEqual a.Parameters b.Parameters "seeds 0 and 1"
    ]

let private fileTests =
    testList "model file" [
        testCase "save then load gives the same model and the same predictions"
        <| fun () ->
            let model, split = irisModel.Force()

            withTempFile (fun path ->
                ModelFile.save path model
                let loaded = ModelFile.load path
                Expect.equal loaded model "every field"
                Expect.equal (Model.predict loaded split.Test) (Model.predict model split.Test) "predictions")
        testCase "tensors carry the documented names and shapes"
        <| fun () ->
            let model, _ = irisModel.Force()

            let shapes =
                (ModelFile.toCheckpoint model).Tensors |> List.map (fun t -> t.Name, t.Shape)

            Expect.equal
                shapes
                [
                    "W1", [ 64; 4 ]
                    "b1", [ 64 ]
                    "W2", [ 32; 64 ]
                    "b2", [ 32 ]
                    "ws", [ 4 ]
                    "W3", [ 3; 32 ]
                    "b3", [ 3 ]
                    "input.mean", [ 4 ]
                    "input.scale", [ 4 ]
                ]
                "tensors"
        testCase "the metadata holds the configuration as JSON"
        <| fun () ->
            let model, _ = irisModel.Force()
            use config = JsonDocument.Parse((ModelFile.toCheckpoint model).Metadata["hybrid"])
            let root = config.RootElement
            Expect.equal (root.GetProperty("skip").GetString()) "Diagonal" "skip"
            Expect.equal (root.GetProperty("D").GetInt32()) 4 "D"

            let names =
                root.GetProperty("classNames").EnumerateArray()
                |> Seq.map (fun n -> n.GetString())
                |> List.ofSeq

            Expect.equal names [ "setosa"; "versicolor"; "virginica" ] "class names"
            Expect.equal (root.GetProperty("optimizer").GetString()) "Adam" "optimizer"
        testCase "NumPy alone reproduces the model's probabilities from the file"
        <| fun () ->
            Python.withNumpy (fun () ->
                let model, split = irisModel.Force()

                withTempFile (fun path ->
                    ModelFile.save path model
                    let features = path + ".f32"
                    File.WriteAllBytes(features, split.Test.Features |> Array.collect BitConverter.GetBytes)

                    let numpy =
                        Python.output [ "-c"; NumpyForward.script; path; features; string split.Test.Columns ]
                        |> JsonSerializer.Deserialize<float[]>
                        |> nonNull

                    let hybrid = Model.probabilities model split.Test
                    Expect.equal numpy.Length hybrid.Length "probabilities"

                    for i in 0 .. hybrid.Length - 1 do
                        Expect.floatClose
                            { absolute = 1e-5; relative = 1e-5 }
                            (float hybrid[i])
                            numpy[i]
                            (sprintf "p[%d]" i)))
    ]

let private saved (edit: Safetensors.Checkpoint -> Safetensors.Checkpoint) (body: string -> unit) =
    let model, _ = irisModel.Force()

    withTempFile (fun path ->
        Safetensors.write path (edit (ModelFile.toCheckpoint model))
        body path)

let private refused name (edit: Safetensors.Checkpoint -> Safetensors.Checkpoint) (fragment: string) =
    testCase name
    <| fun () ->
        saved edit (fun path ->
            let error =
                try
                    ModelFile.load path |> ignore
                    None
                with :? InvalidFileException as e ->
                    Some e.Message

            match error with
            | None -> failtest "the broken model loaded without complaint"
            | Some message ->
                Expect.stringContains message path "names the file"
                Expect.stringContains message fragment "names the problem")

let private withTensor name (change: Safetensors.Tensor -> Safetensors.Tensor list) (c: Safetensors.Checkpoint) = {
    c with
        Tensors = c.Tensors |> List.collect (fun t -> if t.Name = name then change t else [ t ])
}

let private withConfig (change: string -> string) (c: Safetensors.Checkpoint) = {
    c with
        Metadata = c.Metadata |> Map.add "hybrid" (change c.Metadata["hybrid"])
}

let private validationTests =
    testList "loading refuses" [
        refused "a missing tensor" (withTensor "W2" (fun _ -> [])) "tensor 'W2': missing"
        refused
            "a tensor of the wrong shape"
            (withTensor "W3" (fun t -> [ { t with Shape = [ 32; 3 ] } ]))
            "expected shape"
        refused
            "an unexpected tensor"
            (withTensor "b3" (fun t -> [ t; { t with Name = "Ws" } ]))
            "tensor 'Ws': unexpected"
        refused
            "a NaN weight"
            (withTensor "W1" (fun t -> [ { t with Data = Array.updateAt 5 nanf t.Data } ]))
            "element 5 is NaN"
        refused
            "a zero input scale"
            (withTensor "input.scale" (fun t -> [ { t with Data = Array.zeroCreate 4 } ]))
            "holds a zero"
        refused
            "preprocessing with a mean but no scale"
            (withTensor "input.scale" (fun _ -> []))
            "expected both or neither"
        refused "a file without Hybrid metadata" (fun c -> { c with Metadata = Map.empty }) "missing key 'hybrid'"
        refused "metadata that is not JSON" (withConfig (fun _ -> "{not json")) "not well-formed JSON"
        refused
            "an unknown skip kind"
            (withConfig (fun j -> j.Replace("\"Diagonal\"", "\"Sideways\"")))
            "found 'Sideways'"
        refused "a missing field" (withConfig (fun j -> j.Replace("\"epoch\"", "\"epoc\""))) "missing field 'epoch'"
        refused
            "a field of the wrong type"
            (withConfig (fun j -> j.Replace("\"D\":4", "\"D\":\"four\"")))
            "field 'D' has the wrong type"
        refused "a zero width" (withConfig (fun j -> j.Replace("\"M\":64", "\"M\":0"))) "expected a width of at least 1"
        refused
            "too few class names"
            (withConfig (fun j -> j.Replace(",\"virginica\"", "")))
            "expected 3 names (P), found 2"
        refused "another format" (withConfig (fun j -> j.Replace("hybrid-model/1", "hybrid-model/9"))) "expected format"
    ]

/// Each edge case of training input, refused up front or handled by the rule README's "What Hybrid
/// refuses and why" states.
let private inputTests =
    let split = Dataset.iris () |> Dataset.split fractions 1UL
    let quick = { Settings.defaults with Epochs = 3 }

    let withFeature (d: Dataset) index value = { d with Features = Array.updateAt index value d.Features }

    let eachPart change : Split = {
        Train = change split.Train
        Validation = change split.Validation
        Test = change split.Test
    }

    let refused name settings (parts: Split) (fragment: string) =
        testCase name
        <| fun () ->
            match Expect.throwsC (fun () -> Model.fit settings parts |> ignore) id with
            | :? ArgumentException as e -> Expect.stringContains e.Message fragment "names the problem"
            | e -> failtestf "expected an ArgumentException, got %s: %s" (e.GetType().Name) e.Message

    testList "training inputs" [
        refused
            "NaN in the training part, named where it is"
            quick
            { (split: Split) with Train = withFeature split.Train 5 nanf }
            "row 1, column 1 holds NaN"
        refused
            "+∞ in the training part, named where it is"
            quick
            { (split: Split) with Train = withFeature split.Train 9 infinityf }
            "row 2, column 1 holds Infinity"
        refused
            "NaN in the validation part"
            quick
            { (split: Split) with Validation = withFeature split.Validation 2 nanf }
            "validation: features[row 0, column 2]"
        refused
            "a single class"
            quick
            (eachPart (fun d -> { d with Labels = Array.zeroCreate d.Rows; ClassNames = [| "only" |] }))
            "has 1 class (only): a classifier needs at least 2"
        refused
            "validation with classes the training part lacks"
            quick
            {
                (split: Split) with
                    Train = {
                        split.Train with
                            Labels = split.Train.Labels |> Array.map (min 1)
                            ClassNames = [| "setosa"; "versicolor" |]
                    }
            }
            "are not the training part's"
        refused
            "learning rate 1e6"
            { quick with LearningRate = 1e6 }
            split
            "LearningRate: expected in (0, 10], found 1000000"
        refused "width 0" { quick with M = 0 } split "m: expected a width of at least 1, found 0"
        refused "negative epochs" { quick with Epochs = -3 } split "Epochs: expected in [1, 1000000], found -3"
        testCase "a constant column trains: its scale is 1, so it becomes 0"
        <| fun () ->
            let constant =
                eachPart (fun d -> {
                    d with
                        Features = d.Features |> Array.mapi (fun i x -> if i % d.Columns = 1 then 3f else x)
                })

            let model, _ = Model.fit quick constant
            Expect.equal (Option.get model.Preprocessing).Scale[1] 1f "scale 1 instead of a division by zero"
            Expect.all model.Parameters Single.IsFinite "finite weights"
        testCase "a class absent from the training part keeps its output"
        <| fun () ->
            let model, _ =
                Model.fit quick {
                    (split: Split) with
                        Train = { split.Train with Labels = split.Train.Labels |> Array.map (min 1) }
                }

            Expect.equal model.Shape.P 3 "one output per class name"
        testCase "evaluation refuses data whose class names are not the model's, naming both lists"
        <| fun () ->
            let model, _ = Model.fit quick split

            let renamed = { split.Test with ClassNames = [| "setosa"; "versicolor"; "iris virginica" |] }

            match Expect.throwsC (fun () -> Model.evaluate model renamed |> ignore) id with
            | :? ArgumentException as e ->
                Expect.stringContains
                    e.Message
                    "(setosa, versicolor, iris virginica) are not the model's (setosa, versicolor, virginica)"
                    "both lists"
            | e -> failtestf "expected an ArgumentException, got %s: %s" (e.GetType().Name) e.Message
        testCase "a batch larger than the data is one full batch per epoch"
        <| fun () ->
            let _, result = Model.fit { quick with BatchSize = 100_000 } split
            Expect.equal result.History.Count 3 "every epoch ran"
    ]

let tests =
    testList "Model" [ accuracyTests; determinismTests; fileTests; validationTests; inputTests ]
