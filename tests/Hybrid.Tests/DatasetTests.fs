module Hybrid.Tests.DatasetTests

open System
open System.Globalization
open System.IO
open System.IO.Compression
open Expecto
open Hybrid
open Hybrid.Tests.Common

let private dataDirectory =
    Path.Combine(__SOURCE_DIRECTORY__, "..", "..", "src", "Hybrid", "Data")

let private row (data: Dataset) r = data.Features[r * data.Columns .. (r + 1) * data.Columns - 1]

/// A shipped file's first data line, parsed here independently of the library.
let private firstShippedRow (file: string) skipHeader =
    let path = Path.Combine(dataDirectory, file)
    use stream = File.OpenRead path

    use content =
        if file.EndsWith ".gz" then
            new GZipStream(stream, CompressionMode.Decompress) :> Stream
        else
            stream

    use reader = new StreamReader(content)

    if skipHeader then
        reader.ReadLine() |> ignore

    let fields = (nonNull (reader.ReadLine())).Split ','

    let features =
        fields[.. fields.Length - 2]
        |> Array.map (fun f -> Single.Parse(f, CultureInfo.InvariantCulture))

    features, int fields[fields.Length - 1]

let private fileError (action: unit -> 'a) : InvalidFileException =
    try
        action () |> ignore
        failtest "expected an InvalidFileException"
    with :? InvalidFileException as e ->
        e

let private expectAt file location (e: InvalidFileException) =
    Expect.equal e.File file "the file named"
    Expect.equal e.Location location "the place named"
    Expect.stringContains e.Message file "the message names the file"
    Expect.stringContains e.Message location "the message names the place"

let private argumentError (action: unit -> 'a) : ArgumentException =
    try
        action () |> ignore
        failtest "expected an ArgumentException"
    with :? ArgumentException as e ->
        e

let private csv options (text: string) = Csv.read options "test.csv" (new StringReader(text))

let private builtInTests =
    let shape name (load: unit -> Dataset) rows columns classNames (counts: int[]) file skipHeader =
        testList name [
            testCase "shape and classes"
            <| fun () ->
                let data = load ()
                Expect.equal (data.Rows, data.Columns) (rows, columns) "rows × columns"
                Expect.equal data.Features.Length (rows * columns) "flat row-major features"
                Expect.equal data.FeatureNames.Length columns "a name per feature"
                Expect.equal data.ClassNames classNames "class names"
                Expect.equal (classCounts data) counts "samples per class"

            testCase "first row matches the shipped file"
            <| fun () ->
                let data = load ()
                let features, label = firstShippedRow file skipHeader
                Expect.equal (row data 0) features "features"
                Expect.equal data.Labels[0] label "label"
        ]

    testList "built-in" [
        shape "iris" Dataset.iris 150 4 [| "setosa"; "versicolor"; "virginica" |] [| 50; 50; 50 |] "iris.csv" true
        shape "wine" Dataset.wine 178 13 [| "class_0"; "class_1"; "class_2" |] [| 59; 71; 48 |] "wine_data.csv" true
        shape
            "digits"
            Dataset.digits
            1797
            64
            (Array.init 10 string)
            [| 178; 182; 177; 183; 181; 182; 181; 179; 174; 180 |]
            "digits.csv.gz"
            false

        testCase "the attribution ships inside the assembly"
        <| fun () ->
            let names = typeof<Dataset>.Assembly.GetManifestResourceNames()
            Expect.contains names "Hybrid.Data.PROVENANCE.md" "PROVENANCE.md is embedded"
    ]

let private hashTests =
    let iris = Dataset.iris ()
    let changed (data: Dataset) = Dataset.hash data <> Dataset.hash iris

    testList "hash" [
        // Pinned: run keys contain this hash, so a change to the encoding orphans every stored run.
        // Cross-checked once against Python's hashlib.sha256 over the encoding described on Dataset.hash.
        testCase "iris's hash is pinned"
        <| fun () ->
            Expect.equal
                (Dataset.hash iris)
                "1dda42b5e41988de562c92e9c4f23987b11dd857f9517e3a6dda572bfce93c79"
                "iris hash"

        testCase "stable across loads"
        <| fun () -> Expect.equal (Dataset.hash (Dataset.iris ())) (Dataset.hash iris) "same data, same hash"

        testCase "changes when one label changes"
        <| fun () ->
            let labels = Array.copy iris.Labels
            labels[70] <- 0
            Expect.isTrue (changed { iris with Labels = labels }) "label changed"

        testCase "changes when one feature bit changes"
        <| fun () ->
            let features = Array.copy iris.Features
            features[0] <- BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits features[0] + 1)
            Expect.isTrue (changed { iris with Features = features }) "feature changed"

        testCase "changes when a class name changes"
        <| fun () ->
            Expect.isTrue (changed { iris with ClassNames = [| "setosa"; "versicolor"; "Virginica" |] }) "class renamed"

        testCase "changes with the shape alone"
        <| fun () -> Expect.isTrue (changed { iris with Rows = 300; Columns = 2 }) "reshaped"

        testCase "ignores the data set's and features' names"
        <| fun () ->
            let renamed = { iris with Name = "flowers"; FeatureNames = [| "a"; "b"; "c"; "d" |] }

            Expect.isFalse (changed renamed) "names do not affect training"
    ]

let private csvTests =
    testList "CSV" [
        testCase "header, label column by name, class names sorted"
        <| fun () ->
            let data =
                csv { Csv.defaults with Label = Csv.Name "species" } "a,species,b\n1,zeta,2\n3,alpha,4\n5,zeta,6\n"

            Expect.equal data.ClassNames [| "alpha"; "zeta" |] "sorted ordinally, not by first appearance"
            Expect.equal data.Labels [| 1; 0; 1 |] "labels"
            Expect.equal data.Features [| 1f; 2f; 3f; 4f; 5f; 6f |] "features without the label column"
            Expect.equal data.FeatureNames [| "a"; "b" |] "feature names from the header"

        testCase "no header, label by index, semicolons"
        <| fun () ->
            let options = { Csv.defaults with Header = false; Separator = ';'; Label = Csv.Index 0 }

            let data = csv options "b;1.5;-2\na;2.5e1;3\n"
            Expect.equal (data.Rows, data.Columns) (2, 2) "shape"
            Expect.equal data.Features [| 1.5f; -2f; 25f; 3f |] "features"
            Expect.equal data.Labels [| 1; 0 |] "labels"
            Expect.equal data.FeatureNames [| "column 2"; "column 3" |] "columns named by position"

        testCase "integer labels with a declared class count"
        <| fun () ->
            let data =
                csv { Csv.defaults with Labels = Csv.Indices(Some 4) } "x,y\n0.5,1\n0.25,3\n"

            Expect.equal data.ClassNames [| "0"; "1"; "2"; "3" |] "declared classes, even without samples"
            Expect.equal data.Labels [| 1; 3 |] "labels"

        testCase "integer labels with the count inferred"
        <| fun () ->
            let data =
                csv { Csv.defaults with Header = false; Labels = Csv.Indices None } "1,2,0\n3,4,2.0\n5,6,0\n"

            Expect.equal data.ClassNames [| "0"; "1"; "2" |] "largest label + 1 classes"
            Expect.equal data.Labels [| 0; 2; 0 |] "2.0 is the integer 2"

        testCase "preamble lines skipped, as in scikit-learn's files"
        <| fun () ->
            let options = {
                Csv.defaults with
                    SkipLines = 1
                    Header = false
                    Labels = Csv.Indices(Some 2)
            }

            let data = csv options "2,2,malignant,benign\n1.5,2,0\n3,4,1\n"
            Expect.equal (data.Rows, data.Columns) (2, 2) "the preamble is no row"
            Expect.equal data.Features [| 1.5f; 2f; 3f; 4f |] "features"
            Expect.equal data.Labels [| 0; 1 |] "labels"

        testCase "skipped lines before a header"
        <| fun () ->
            let data =
                csv { Csv.defaults with SkipLines = 2 } "# exported\n\"a quoted, unclosed note\nx,label\n1,cat\n"

            Expect.equal data.FeatureNames [| "x" |] "the header follows the skipped lines, which are not parsed"
            Expect.equal data.ClassNames [| "cat" |] "classes"

        testCase "quoted fields"
        <| fun () ->
            let data =
                csv Csv.defaults "\"width\",\"height\",\"kind\"\n1,\"2\",\"round, \"\"big\"\"\"\n"

            Expect.equal data.FeatureNames [| "width"; "height" |] "quoted header"
            Expect.equal data.ClassNames [| "round, \"big\"" |] "separator and doubled quote inside quotes"
            Expect.equal data.Features [| 1f; 2f |] "quoted number"

        testCase "blank lines are skipped"
        <| fun () ->
            let data = csv Csv.defaults "a,label\n\n1,x\n   \n2,y\n\n"
            Expect.equal data.Features [| 1f; 2f |] "two rows"

        testCase "gzip and plain files load alike"
        <| fun () ->
            let text = "a,b,label\n1,2,x\n3,4,y\n"
            let directory = Directory.CreateTempSubdirectory "hybrid-csv"

            try
                let plain = Path.Combine(directory.FullName, "plain.csv")
                let zipped = Path.Combine(directory.FullName, "zipped.csv.gz")
                File.WriteAllText(plain, text)

                do
                    use file = File.Create zipped
                    use gzip = new GZipStream(file, CompressionLevel.Optimal)
                    gzip.Write(Text.Encoding.UTF8.GetBytes text)

                let fromPlain = Csv.load Csv.defaults plain
                Expect.equal fromPlain.Name "plain.csv" "named after the file"
                Expect.equal (Dataset.hash (Csv.load Csv.defaults zipped)) (Dataset.hash fromPlain) "same content"
            finally
                directory.Delete true
    ]

let private csvErrorTests =
    let text = Csv.defaults

    let indices = { Csv.defaults with Labels = Csv.Indices None }

    [
        "ragged row, too few fields",
        text,
        "a,b,label\n1,2,x\n3,x\n",
        "line 3, column 3",
        "expected 3 fields as in the header on line 1, found 2"
        "ragged row, too many fields",
        { text with Header = false },
        "1,2,x\n3,4,5,y\n",
        "line 2, column 4",
        "expected 3 fields as on line 1, found 4"
        "non-numeric field",
        text,
        "a,b,label\n1,2,x\n3,oops,y\n",
        "line 3, column 2",
        "expected a number, found \"oops\""
        "empty field", text, "a,b,label\n1,,x\n", "line 2, column 2", "empty field"
        "NaN", text, "a,b,label\n1,NaN,x\n", "line 2, column 2", "NaN"
        "infinity", text, "a,b,label\n-Infinity,2,x\n", "line 2, column 1", "infinite"
        "beyond float32", text, "a,b,label\n1e39,2,x\n", "line 2, column 1", "32-bit"
        "label not an integer", indices, "a,b,label\n1,2,0\n3,4,1.5\n", "line 3, column 3", "expected a class index"
        "label not a number", indices, "a,b,label\n1,2,cat\n", "line 2, column 3", "expected a class index"
        "negative label", indices, "a,b,label\n1,2,-1\n", "line 2, column 3", "expected a class index"
        "label out of range",
        { text with Labels = Csv.Indices(Some 2) },
        "a,b,label\n1,2,1\n3,4,2\n",
        "line 3, column 3",
        "out of range"
        "more classes than rows",
        indices,
        "a,b,label\n1,2,0\n3,4,2\n",
        "line 3, column 3",
        "label 2 would mean 3 classes, more than the 2 rows"
        "label at the 32-bit limit",
        indices,
        "a,b,label\n1,2,2147483647\n3,4,0\n",
        "line 2, column 3",
        "2147483648 classes"
        "skipped lines keep the file's line numbers",
        { text with SkipLines = 2 },
        "569,30,a,b\n\nx,y,label\n1,oops,c\n",
        "line 4, column 2",
        "expected a number, found \"oops\""
        "nothing after the skipped lines",
        { text with SkipLines = 3 },
        "569,30,a,b\n",
        "line 4, column 1",
        "no data follow the 3 skipped lines"
        "a 10 MB field quoted briefly",
        text,
        "a,b,label\n1," + String('x', 10_000_000) + ",y\n",
        "line 2, column 2",
        "... (10000000 characters)"
        "empty label", text, "a,b,label\n1,2,\n", "line 2, column 3", "empty"
        "empty file", text, "", "line 1, column 1", "empty"
        "only blank lines", text, "\n  \n", "line 1, column 1", "empty"
        "header without rows", text, "a,b,label\n", "line 2, column 1", "no data rows"
        "unclosed quote", text, "a,b,label\n1,2,\"x\n", "line 2, column 3", "quoted field"
        "label column name not in the header",
        { text with Label = Csv.Name "species" },
        "a,b,label\n1,2,x\n",
        "line 1, column 1",
        "no column is named \"species\""
        "label column index out of range",
        { text with Label = Csv.Index 3 },
        "a,b,label\n1,2,x\n",
        "line 1, column 1",
        "out of range"
        "no feature besides the label", text, "label\nx\n", "line 1, column 1", "at least one feature"
        "line numbers count blank lines", text, "a,b,label\n\n1,2,x\n\n3,z,y\n", "line 5, column 2", "\"z\""
    ]
    |> List.map (fun (name, options, text, location, says) ->
        testCase name
        <| fun () ->
            let e = fileError (fun () -> csv options text)
            expectAt "test.csv" location e
            Expect.stringContains e.Problem says "the problem")
    |> testList "CSV errors"

let private countedErrorTests =
    let features = [| "a"; "b" |]

    [
        "header sample count mismatch", "3,2,x,y\n1,2,0\n3,4,1\n", "line 1, column 1", "declares \"3\" samples"
        "header feature count mismatch", "2,3,x,y\n1,2,0\n3,4,1\n", "line 1, column 2", "declares \"3\" features"
        "row width against the header",
        "2,2,x,y\n1,2,0\n3,4\n",
        "line 3, column 3",
        "expected 3 fields (2 features, then the label)"
        "label beyond the header's classes", "2,2,x,y\n1,2,0\n3,4,2\n", "line 3, column 3", "out of range"
        "header too short", "2,2\n1,2,0\n", "line 1, column 1", "expected a header"
        "empty file", "", "line 1, column 1", "empty"
    ]
    |> List.map (fun (name, text, location, says) ->
        testCase name
        <| fun () ->
            let e =
                fileError (fun () -> Dataset.readCounted "counted" features "counted.csv" (new StringReader(text)))

            expectAt "counted.csv" location e
            Expect.stringContains e.Problem says "the problem")
    |> testList "built-in format errors"

/// An IDX file of unsigned bytes: magic 00 00 08 rank, big-endian dimensions, then the data.
let private idx (dims: int list) (data: byte list) =
    [
        yield! [ 0uy; 0uy; 8uy; byte dims.Length ]
        for d in dims do
            yield! BitConverter.GetBytes(d) |> Array.rev
        yield! data
    ]
    |> Array.ofList

let private gzip (bytes: byte[]) =
    use buffer = new MemoryStream()

    do
        use compressor = new GZipStream(buffer, CompressionLevel.Optimal, true)
        compressor.Write bytes

    buffer.ToArray()

/// Writes the images and labels files into a fresh directory while `action` runs.
let private withIdxFiles (images: byte[]) (labels: byte[]) (action: string -> string -> unit) =
    let directory = Directory.CreateTempSubdirectory "hybrid-idx"

    try
        let imagesPath = Path.Combine(directory.FullName, "images-idx3-ubyte")
        let labelsPath = Path.Combine(directory.FullName, "labels-idx1-ubyte")
        File.WriteAllBytes(imagesPath, images)
        File.WriteAllBytes(labelsPath, labels)
        action imagesPath labelsPath
    finally
        directory.Delete true

let private idxTests =
    let pixels = [ 0uy .. 17uy ] |> List.map ((*) 10uy)
    let images = idx [ 3; 2; 3 ] pixels
    let labels = idx [ 3 ] [ 2uy; 0uy; 1uy ]
    let names = [| "zero"; "one"; "two" |]

    let roundTrip name images labels =
        testCase name
        <| fun () ->
            withIdxFiles images labels (fun imagesPath labelsPath ->
                let data = Idx.load names imagesPath labelsPath
                Expect.equal (data.Rows, data.Columns) (3, 6) "3 images of 2×3"
                Expect.equal data.Features (pixels |> List.map float32 |> Array.ofList) "raw pixel values, row-major"
                Expect.equal data.Labels [| 2; 0; 1 |] "labels"
                Expect.equal data.ClassNames names "the given class names"
                Expect.equal data.Name "images-idx3-ubyte" "named after the images file")

    let corrupt name (images: byte[]) (labels: byte[]) inLabels location (says: string) =
        testCase name
        <| fun () ->
            withIdxFiles images labels (fun imagesPath labelsPath ->
                let e = fileError (fun () -> Idx.load names imagesPath labelsPath)
                expectAt (if inLabels then labelsPath else imagesPath) location e
                Expect.stringContains e.Problem says "the problem")

    let withHeader (bytes: byte[]) (patch: (int * byte) list) =
        let copy = Array.copy bytes
        patch |> List.iter (fun (i, b) -> copy[i] <- b)
        copy

    testList "IDX" [
        roundTrip "plain round trip" images labels
        roundTrip "gzip round trip" (gzip images) (gzip labels)
        roundTrip "gzip images with plain labels" (gzip images) labels

        testCase "a labels file lacking the last class keeps every given name"
        <| fun () ->
            withIdxFiles images (idx [ 3 ] [ 0uy; 1uy; 0uy ]) (fun imagesPath labelsPath ->
                let data = Idx.load names imagesPath labelsPath
                Expect.equal data.ClassNames names "the names of the training file, the absent class included")

        corrupt "too short for a magic number" [| 0uy; 0uy |] labels false "byte 0" "too few"
        corrupt
            "magic number not starting 00 00"
            (withHeader images [ 0, 0x12uy ])
            labels
            false
            "byte 0"
            "not an IDX file"
        corrupt "element type not unsigned bytes" (withHeader images [ 2, 0x0Duy ]) labels false "byte 2" "0x0d"
        corrupt "zero dimensions" (idx [] []) labels false "byte 3" "at least one dimension"
        corrupt "header cut short" images[..9] labels false "byte 3" "3 dimensions need a 16-byte header"
        corrupt "negative dimension" (withHeader images [ 8, 0xFFuy ]) labels false "byte 8" "negative"
        corrupt
            "data shorter than the dimensions"
            images[.. images.Length - 2]
            labels
            false
            "byte 16"
            "need 18 bytes of data, the file has 17"
        corrupt
            "data longer than the dimensions"
            (Array.append images [| 0uy |])
            labels
            false
            "byte 16"
            "the file has 19"
        corrupt
            "huge dimensions are refused before allocating"
            (withHeader images [ 4, 0x7Fuy ])
            labels
            false
            "byte 16"
            "need"
        corrupt "images with one dimension" (idx [ 3 ] [ 1uy; 2uy; 3uy ]) labels false "byte 3" "2 or more dimensions"
        corrupt "labels with two dimensions" images (idx [ 3; 1 ] [ 2uy; 0uy; 1uy ]) true "byte 3" "1 dimension"
        corrupt
            "label count differs from image count"
            images
            (idx [ 2 ] [ 2uy; 0uy ])
            true
            "byte 4"
            "2 labels for the 3 images"
        corrupt "no images" (idx [ 0; 2; 3 ] []) (idx [ 0 ] []) false "byte 4" "no items"
        corrupt
            "images without a value"
            (idx [ 3; 2; 0 ] [])
            labels
            false
            "byte 12"
            "dimension 2 is 0: each item would hold no values"
        corrupt "gzip cut short" (Array.truncate 21 (gzip images)) labels false "byte 13" "cut short"
        corrupt "labels gzip cut short" images (Array.truncate 21 (gzip labels)) true "byte 13" "cut short"
        corrupt
            "a label beyond the given classes"
            images
            (idx [ 3 ] [ 2uy; 0uy; 5uy ])
            true
            "byte 10"
            "label 5 is out of range: 3 classes are given (zero, one, two), so 0..2"
        corrupt "broken gzip stream" (Array.append [| 0x1fuy; 0x8buy |] images) labels false "" "gzip"
    ]

let private splitTests =
    let iris = Dataset.iris ()

    let fractions = { Train = 0.6; Validation = 0.2; Test = 0.2 }

    testList "split" [
        testCase "every class in proportion (iris 60/20/20 is exact)"
        <| fun () ->
            let parts = iris |> Dataset.split fractions 7UL
            Expect.equal (classCounts parts.Train) [| 30; 30; 30 |] "train"
            Expect.equal (classCounts parts.Validation) [| 10; 10; 10 |] "validation"
            Expect.equal (classCounts parts.Test) [| 10; 10; 10 |] "test"

        testCase "every class in proportion within one sample (digits 70/15/15)"
        <| fun () ->
            let digits = Dataset.digits ()

            let f = { Train = 0.7; Validation = 0.15; Test = 0.15 }

            let parts = digits |> Dataset.split f 3UL

            for part, fraction in [ parts.Train, f.Train; parts.Validation, f.Validation; parts.Test, f.Test ] do
                Array.zip (classCounts part) (classCounts digits)
                |> Array.iter (fun (got, total) ->
                    Expect.isLessThanOrEqual (abs (float got - fraction * float total)) 1.0 "within one sample")

        testCase "no sample lost or duplicated"
        <| fun () ->
            let data = traceable 101 4

            let parts =
                data |> Dataset.split { Train = 0.5; Validation = 0.25; Test = 0.25 } 11UL

            let all = Array.concat [ ids parts.Train; ids parts.Validation; ids parts.Test ]
            Expect.equal (Array.sort all) [| 0..100 |] "every row exactly once"

        testCase "rows keep their labels"
        <| fun () ->
            let data = traceable 40 3
            let parts = data |> Dataset.split fractions 5UL

            Array.zip (ids parts.Train) parts.Train.Labels
            |> Array.iter (fun (id, label) -> Expect.equal label (id % 3) "label travels with its row")

        testCase "same seed, same split"
        <| fun () ->
            let a = iris |> Dataset.split fractions 42UL
            let b = iris |> Dataset.split fractions 42UL
            Expect.equal a b "identical parts"

        testCase "different seed, different split"
        <| fun () ->
            let a = iris |> Dataset.split fractions 42UL
            let b = iris |> Dataset.split fractions 43UL
            Expect.notEqual a.Test.Features b.Test.Features "different test rows"

        testCase "a class too small for a part is named"
        <| fun () ->
            let data = {
                traceable 42 2 with
                    Labels = Array.init 42 (fun r -> if r < 2 then 1 else 0)
                    ClassNames = [| "common"; "rare" |]
            }

            let e =
                argumentError (fun () -> data |> Dataset.split { Train = 0.8; Validation = 0.1; Test = 0.1 } 1UL)

            Expect.stringContains e.Message "class \"rare\" has 2 samples" "names the class"
            Expect.stringContains e.Message "validation part would get none" "names the part"

        testCase "a class with no samples is named"
        <| fun () ->
            let data = { traceable 30 2 with ClassNames = [| "a"; "b"; "absent" |] }

            let e = argumentError (fun () -> data |> Dataset.split fractions 1UL)
            Expect.stringContains e.Message "class \"absent\" has 0 samples" "names the class"

        testCase "an empty part is allowed when its fraction is 0"
        <| fun () ->
            let parts = iris |> Dataset.split { Train = 0.8; Validation = 0.0; Test = 0.2 } 1UL

            Expect.equal parts.Validation.Rows 0 "no validation part"
            Expect.equal (parts.Train.Rows, parts.Test.Rows) (120, 30) "train and test"

        testCase "fractions must sum to 1"
        <| fun () ->
            argumentError (fun () -> iris |> Dataset.split { Train = 0.6; Validation = 0.2; Test = 0.3 } 1UL)
            |> ignore
    ]

let private kFoldTests =
    let data = traceable 103 3

    testList "k-fold" [
        testCase "every sample validated exactly once"
        <| fun () ->
            let folds = data |> Dataset.kFold 5 9UL
            Expect.equal (folds |> Array.collect (fun f -> ids f.Validation) |> Array.sort) [| 0..102 |] "once each"

        testCase "train is the rest of each fold"
        <| fun () ->
            for fold in data |> Dataset.kFold 5 9UL do
                Expect.equal
                    (Array.append (ids fold.Train) (ids fold.Validation) |> Array.sort)
                    [| 0..102 |]
                    "train ∪ validation"

        testCase "stratified: each class spread evenly over the folds"
        <| fun () ->
            let counts = classCounts data

            for fold in data |> Dataset.kFold 5 9UL do
                Array.zip (classCounts fold.Validation) counts
                |> Array.iter (fun (got, total) ->
                    Expect.isLessThanOrEqual (abs (float got - float total / 5.0)) 1.0 "within one")

        testCase "same seed, same folds; different seed, different folds"
        <| fun () ->
            Expect.equal (Dataset.kFold 4 1UL data) (Dataset.kFold 4 1UL data) "same seed"

            let first seed = (Dataset.kFold 4 seed data |> Array.head).Validation

            Expect.notEqual (first 1UL).Features (first 2UL).Features "different seed"

        testCase "a class with fewer samples than folds is named"
        <| fun () ->
            let small = {
                traceable 12 2 with
                    Labels = Array.init 12 (fun r -> if r < 3 then 1 else 0)
                    ClassNames = [| "many"; "few" |]
            }

            let e = argumentError (fun () -> small |> Dataset.kFold 4 1UL)
            Expect.stringContains e.Message "class \"few\" has 3 samples" "names the class"
    ]

let private shuffleTests =
    testList "shuffle and one-hot" [
        testCase "shuffle permutes rows, seeded"
        <| fun () ->
            let data = traceable 50 5
            let shuffled = data |> Dataset.shuffle 3UL
            Expect.equal (ids shuffled |> Array.sort) [| 0..49 |] "a permutation"
            Expect.notEqual (ids shuffled) [| 0..49 |] "not the identity"
            Expect.equal (Dataset.shuffle 3UL data) shuffled "same seed, same order"

            Array.zip (ids shuffled) shuffled.Labels
            |> Array.iter (fun (id, label) -> Expect.equal label (id % 5) "label follows")

        testCase "one-hot rows"
        <| fun () ->
            let data = { traceable 4 3 with Labels = [| 2; 0; 1; 2 |] }

            Expect.equal
                (Dataset.oneHot data)
                [| 0f; 0f; 1f; 1f; 0f; 0f; 0f; 1f; 0f; 0f; 0f; 1f |]
                "one 1 per row at the label"
    ]

let private table rows columns (values: float32[]) : Dataset = {
    Name = "table"
    Features = values
    Rows = rows
    Columns = columns
    Labels = Array.zeroCreate rows
    ClassNames = [| "only" |]
    FeatureNames = Array.init columns string
}

/// Float32 arithmetic over a few hundred values: a few ulps of 1 in accumulated rounding.
let private float32Rounding = { absolute = 1e-6; relative = 1e-6 }

let private scalingTests =
    // Column 0 varies, column 1 is constant.
    let train = table 3 2 [| 1f; 5f; 2f; 5f; 3f; 5f |]
    let heldOut = table 2 2 [| 100f; 7f; 200f; 5f |]

    testList "scaling" [
        testCase "standardize fits mean and population deviation"
        <| fun () ->
            let scaler = Standardize.fit train
            Expect.equal scaler.Mean [| 2f; 5f |] "means"
            Expect.equal scaler.Scale[0] (float32 (sqrt (2.0 / 3.0))) "population standard deviation"

        testCase "constant column: scale 1, so it becomes x − mean"
        <| fun () ->
            let scaler = Standardize.fit train
            Expect.equal scaler.Scale[1] 1f "scale 1"
            let scaled = heldOut |> Scaler.apply scaler
            Expect.equal (scaled.Features[1], scaled.Features[3]) (2f, 0f) "x − 5"

        testCase "fitted on the training part only"
        <| fun () ->
            let parts =
                Dataset.iris ()
                |> Dataset.split { Train = 0.6; Validation = 0.2; Test = 0.2 } 1UL

            let scaler = Standardize.fit parts.Train

            let otherTest = { parts.Test with Features = parts.Test.Features |> Array.map ((*) 10f) }

            let whole = Dataset.iris () |> Standardize.fit
            Expect.notEqual scaler whole "not the statistics of all the data"
            Expect.equal (Standardize.fit parts.Train) scaler "a function of the training part alone"
            let scaledTest = otherTest |> Scaler.apply scaler
            Expect.isGreaterThan scaledTest.Features[0] 5f "test data scaled by training statistics, not its own"
            let refitted = Standardize.fit (parts.Train |> Scaler.apply scaler)

            refitted.Mean
            |> Array.iter (fun m -> Expect.floatClose float32Rounding (float m) 0.0 "training part centred")

            refitted.Scale
            |> Array.iter (fun s -> Expect.floatClose float32Rounding (float s) 1.0 "unit deviation")

        testCase "apply computes (x − mean) / scale in float32"
        <| fun () ->
            let scaler = { Mean = [| 1f; 2f |]; Scale = [| 3f; 0.5f |] }

            let scaled = table 1 2 [| 0.7f; 2.3f |] |> Scaler.apply scaler
            Expect.equal scaled.Features [| (0.7f - 1f) / 3f; (2.3f - 2f) / 0.5f |] "bit for bit"

        testCase "min-max maps the training range onto [0, 1]"
        <| fun () ->
            let scaler = MinMax.fit train

            Expect.equal
                scaler
                { Mean = [| 1f; 5f |]; Scale = [| 2f; 1f |] }
                "minimum and range; constant column scale 1"

            Expect.equal (Scaler.apply scaler train).Features [| 0f; 0f; 0.5f; 0f; 1f; 0f |] "train in [0, 1]"

        testCase "a scaler for other columns is refused"
        <| fun () ->
            argumentError (fun () -> table 1 3 [| 1f; 2f; 3f |] |> Scaler.apply (Standardize.fit train))
            |> ignore

        testCase "fitting on no rows is refused"
        <| fun () -> argumentError (fun () -> table 0 2 [||] |> Standardize.fit) |> ignore
    ]

let private syntheticTests =
    let spec: Synthetic.Blobs = { Classes = 3; Dimensions = 4; PerClass = 20; Spread = 0.5; Seed = 1UL }

    testList "synthetic" [
        testCase "blobs: shape and labels"
        <| fun () ->
            let data = Synthetic.blobs spec
            Expect.equal (data.Rows, data.Columns) (60, 4) "3 × 20 rows of 4"
            Expect.equal (classCounts data) [| 20; 20; 20 |] "20 per class"

        testCase "blobs: seeded"
        <| fun () ->
            Expect.equal (Synthetic.blobs spec) (Synthetic.blobs spec) "same seed, same bits"

            Expect.notEqual
                (Synthetic.blobs { spec with Seed = 2UL }).Features
                (Synthetic.blobs spec).Features
                "other seed"

        testCase "blobs: points gather round their class centre"
        <| fun () ->
            let data = Synthetic.blobs { spec with PerClass = 400 }

            let centre c =
                Array.init 4 (fun d ->
                    Array.init 400 (fun i -> float data.Features[(c * 400 + i) * 4 + d])
                    |> Array.average)

            let spread c =
                Array.init 4 (fun d ->
                    Array.init 400 (fun i -> float data.Features[(c * 400 + i) * 4 + d] - (centre c)[d])
                    |> Array.map (fun x -> x * x)
                    |> Array.average
                    |> sqrt)

            for c in 0..2 do
                spread c
                |> Array.iter (fun s ->
                    Expect.floatClose { absolute = 0.05; relative = 0.0 } s 0.5 "standard deviation = Spread")

        testCase "two spirals: shape and symmetry without noise"
        <| fun () ->
            let data = Synthetic.twoSpirals { PerClass = 50; Noise = 0.0; Seed = 1UL }

            Expect.equal (data.Rows, data.Columns, classCounts data) (100, 2, [| 50; 50 |]) "2 × 50 points in the plane"

            for i in 0..49 do
                Expect.floatClose
                    Accuracy.high
                    (float data.Features[2 * (50 + i)])
                    (-(float data.Features[2 * i]))
                    "x mirrored"

        testCase "two spirals: seeded noise"
        <| fun () ->
            let spirals seed = Synthetic.twoSpirals { PerClass = 50; Noise = 0.1; Seed = seed }

            Expect.equal (spirals 4UL) (spirals 4UL) "same seed, same bits"
            Expect.notEqual (spirals 4UL).Features (spirals 5UL).Features "other seed"
    ]

let tests =
    testList "Dataset" [
        builtInTests
        hashTests
        csvTests
        csvErrorTests
        countedErrorTests
        idxTests
        splitTests
        kFoldTests
        shuffleTests
        scalingTests
        syntheticTests
    ]
