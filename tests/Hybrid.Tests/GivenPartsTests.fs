/// Data sets that come with their own test part: `Split.ofParts`, and Fashion-MNIST from Debian's
/// dataset-fashion-mnist (which `.ci/run` installs).
module Hybrid.Tests.GivenPartsTests

open System
open System.IO
open Expecto
open Hybrid
open Hybrid.Tests.Common

let private ofPartsTests =
    let train = traceable 200 4

    let test = { traceable 40 4 with Name = "given test" }

    testList "Split.ofParts" [
        testCase "cuts a stratified validation share from train and keeps the test part as given"
        <| fun () ->
            let split = Split.ofParts 0.1 7UL train test
            Expect.equal (classCounts split.Validation) [| 5; 5; 5; 5 |] "10% of every class"
            Expect.equal (classCounts split.Train) [| 45; 45; 45; 45 |] "the rest trains"
            Expect.equal split.Test test "the test part untouched"

            Expect.equal
                (Array.sort (Array.append (ids split.Train) (ids split.Validation)))
                [| 0..199 |]
                "every training row once"

        testCase "rows travel with their labels"
        <| fun () ->
            let split = Split.ofParts 0.25 3UL train test

            Array.zip (ids split.Validation) split.Validation.Labels
            |> Array.iter (fun (id, label) -> Expect.equal label (id % 4) "label of its row")

        testCase "the seed decides the rows, the same seed the same rows"
        <| fun () ->
            Expect.equal (Split.ofParts 0.1 7UL train test) (Split.ofParts 0.1 7UL train test) "same seed"

            Expect.notEqual
                (ids (Split.ofParts 0.1 7UL train test).Validation)
                (ids (Split.ofParts 0.1 8UL train test).Validation)
                "other seed"

        testCase "Split.rows names exactly the rows ofParts cuts, in its order"
        <| fun () ->
            let trainRows, validationRows = Split.rows 0.1 7UL train
            let split = Split.ofParts 0.1 7UL train test
            Expect.equal trainRows (ids split.Train) "training rows"
            Expect.equal validationRows (ids split.Validation) "validation rows"

        testCase "a test part with other class names is refused, naming both lists"
        <| fun () ->
            let other = { test with ClassNames = [| "a"; "b"; "c"; "d" |] }

            let e =
                raised<ArgumentException>(fun () -> Split.ofParts 0.1 7UL train other |> ignore)

            Expect.stringContains
                e.Message
                "given test's classes (a, b, c, d) are not traceable's (class 0, class 1, class 2, class 3)"
                "both lists"

        testCase "a test part with other columns is refused"
        <| fun () ->
            let wide = { test with Columns = 2; Features = Array.zeroCreate 80 }

            let e =
                raised<ArgumentException>(fun () -> Split.ofParts 0.1 7UL train wide |> ignore)

            Expect.stringContains e.Message "given test has 2 columns, traceable has 1" "both widths"

        for share in [ 0.0; 1.0; -0.1; nan ] do
            testCase (sprintf "a validation share of %g is refused" share)
            <| fun () ->
                let e =
                    raised<ArgumentException>(fun () -> Split.ofParts share 7UL train test |> ignore)

                Expect.stringContains e.Message "strictly between 0 and 1" "the rule"
    ]

let private fashion = lazy (Dataset.fashionMnist ())

let private fashionTests =
    testList "Fashion-MNIST" [
        testCase "train and test with the class names, 784 raw pixels"
        <| fun () ->
            let train, test = fashion.Force()
            Expect.equal (train.Rows, test.Rows) (60_000, 10_000) "60,000 training and 10,000 test images"
            Expect.equal (train.Columns, test.Columns) (784, 784) "28×28 pixels"

            Expect.equal
                train.ClassNames
                [|
                    "T-shirt/top"
                    "Trouser"
                    "Pullover"
                    "Dress"
                    "Coat"
                    "Sandal"
                    "Shirt"
                    "Sneaker"
                    "Bag"
                    "Ankle boot"
                |]
                "names"

            Expect.equal test.ClassNames train.ClassNames "one class list"
            Expect.equal (classCounts train) (Array.create 10 6_000) "6,000 training images a class"
            Expect.equal (classCounts test) (Array.create 10 1_000) "1,000 test images a class"
            Expect.equal (Array.max train.Features, Array.min train.Features) (255f, 0f) "bytes as they are"

        testCase "the 54,000 / 6,000 split of scripts/fashion.fsx"
        <| fun () ->
            let train, test = fashion.Force()
            let split = Split.ofParts 0.1 42UL train test
            Expect.equal (classCounts split.Validation) (Array.create 10 600) "600 validation images a class"
            Expect.equal split.Train.Rows 54_000 "54,000 train"

        testCase "missing files are named with the package that installs them"
        <| fun () ->
            let empty = Directory.CreateTempSubdirectory("hybrid-fashion-").FullName

            try
                File.WriteAllBytes(Path.Combine(empty, "train-images-idx3-ubyte"), [||])

                let e =
                    raised<FileNotFoundException>(fun () -> Dataset.fashionMnistFrom empty |> ignore)

                Expect.stringContains e.Message (Path.Combine(empty, "train-labels-idx1-ubyte.gz")) "a missing file"
                Expect.stringContains e.Message "t10k-labels-idx1-ubyte.gz" "every missing file"
                Expect.isFalse (e.Message.Contains "train-images") "a present file is not called missing"
                Expect.stringContains e.Message "apt-get install dataset-fashion-mnist" "the package"
            finally
                Directory.Delete(empty, true)
    ]

let tests = testList "Given test parts" [ ofPartsTests; fashionTests ]
