// One training run on the built-in iris data: train, save the model, load it back, predict.
// Usage: dotnet fsi scripts/train.fsx        (HYBRID_SMOKE=1: a short budget, for CI)
#load "_build.fsx"
#load "_load.fsx"

open System
open System.IO
open Hybrid

let smoke = Environment.GetEnvironmentVariable "HYBRID_SMOKE" = "1"

let settings = {
    Settings.defaults with
        Skip = SkipKind.Diagonal
        Epochs = (if smoke then 5 else Settings.defaults.Epochs)
}

let split =
    Dataset.iris ()
    |> Dataset.split { Train = 0.7; Validation = 0.15; Test = 0.15 } 42UL

let model, result = Model.fit settings split

printfn
    "iris: trained %d epochs (%O), kept epoch %d, network %O"
    result.History.Count
    result.Stop
    result.KeptEpoch
    model.Shape

let path =
    Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, "..", "runs", "iris", "model.safetensors"))

ModelFile.save path model
let loaded = ModelFile.load path

printfn
    "saved and reloaded %s (%d parameters, preprocessing %s)"
    path
    loaded.Parameters.Length
    (if loaded.Preprocessing.IsSome then "included" else "none")

let predictions = Model.predict loaded split.Test
let _, accuracy = Model.evaluate loaded split.Test
printfn "test accuracy of the reloaded model: %.2f%%" (100.0 * accuracy)

for row, predicted in Seq.zip (Seq.truncate 5 (Seq.init split.Test.Rows id)) predictions do
    printfn
        "  test row %d: predicted %s, actually %s"
        row
        loaded.ClassNames[predicted]
        split.Test.ClassNames[split.Test.Labels[row]]

if predictions <> Model.predict model split.Test then
    failwith "the reloaded model predicts differently from the trained one"
