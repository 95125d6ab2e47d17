// Trains the network on the built-in digits data (1,797 8×8 images, 10 classes) with the default
// settings, prints its held-out test accuracy, and saves the model under runs/digits/.
// Usage: dotnet fsi scripts/digits.fsx        (HYBRID_SMOKE=1: a short budget, for CI)
#load "_build.fsx"
#load "_load.fsx"

open System
open System.IO
open Hybrid

let smoke = Environment.GetEnvironmentVariable "HYBRID_SMOKE" = "1"

let settings = {
    Settings.defaults with
        Epochs = (if smoke then 3 else Settings.defaults.Epochs)
}

let split =
    Dataset.digits ()
    |> Dataset.split { Train = 0.7; Validation = 0.15; Test = 0.15 } 42UL

let watch = Diagnostics.Stopwatch.StartNew()
let model, result = Model.fit settings split
let _, testAccuracy = Model.evaluate model split.Test

let path =
    Path.Combine(__SOURCE_DIRECTORY__, "..", "runs", "digits", "model.safetensors")
    |> Path.GetFullPath

ModelFile.save path model

printfn
    "digits: %d train / %d validation / %d test rows, network %O"
    split.Train.Rows
    split.Validation.Rows
    split.Test.Rows
    model.Shape

printfn
    "trained %d epochs in %.1f s (%O; kept epoch %d)"
    result.History.Count
    watch.Elapsed.TotalSeconds
    result.Stop
    result.KeptEpoch

printfn "test accuracy: %.2f%%" (100.0 * testAccuracy)
printfn "model saved to %s" path
