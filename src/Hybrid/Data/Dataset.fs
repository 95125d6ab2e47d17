namespace Hybrid

open System
open System.IO
open System.Security.Cryptography
open Hybrid.Engine.Model

// Declared in another file than its type (DatasetTypes.fs, before the loaders this module uses),
// so the compiled name's suffix must be asked for.
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Dataset =

    /// SHA-256 (lowercase hex) of everything that affects training: shape, feature bits, labels and
    /// class names. The encoding is BinaryWriter's (little-endian; strings as a 7-bit length prefix
    /// and UTF-8) with every array preceded by its length, so no two data sets share one. Name and
    /// FeatureNames are left out: renaming a data set does not change what a model learns from it.
    let hash (data: Dataset) : string =
        use sha = SHA256.Create()

        do
            use stream = new CryptoStream(Stream.Null, sha, CryptoStreamMode.Write)
            use writer = new BinaryWriter(new BufferedStream(stream))
            writer.Write "Hybrid.Dataset/1"
            writer.Write data.Rows
            writer.Write data.Columns
            writer.Write data.Features.Length
            data.Features |> Array.iter writer.Write
            writer.Write data.Labels.Length
            data.Labels |> Array.iter writer.Write
            writer.Write data.ClassNames.Length
            data.ClassNames |> Array.iter writer.Write

        Convert.ToHexStringLower(nonNull sha.Hash)

    /// The given rows, in the given order.
    let select (rows: int[]) (data: Dataset) : Dataset =
        let columns = data.Columns
        let features = Array.zeroCreate (rows.Length * columns)

        rows
        |> Array.iteri (fun i r -> Array.blit data.Features (r * columns) features (i * columns) columns)

        {
            data with
                Features = features
                Rows = rows.Length
                Labels = rows |> Array.map (fun r -> data.Labels[r])
        }

    let private shuffled (rng: Rng) (rows: int[]) =
        let copy = Array.copy rows
        rng.Shuffle(copy.AsSpan())
        copy

    /// The rows in an order drawn from the seed.
    let shuffle (seed: uint64) (data: Dataset) : Dataset = data |> select (shuffled (Rng seed) [| 0 .. data.Rows - 1 |])

    /// The rows of each class, in an order drawn from rng: where every stratified transform starts.
    let private byClass (rng: Rng) (data: Dataset) : int[][] =
        let order = shuffled rng [| 0 .. data.Rows - 1 |]

        data.ClassNames
        |> Array.mapi (fun c _ -> order |> Array.filter (fun r -> data.Labels[r] = c))

    let private tooFew (data: Dataset) c (rows: int[]) need =
        sprintf "%s: class \"%s\" has %d samples, too few %s" data.Name data.ClassNames[c] rows.Length need
        |> ArgumentException
        |> raise

    let private describe (f: Fractions) = sprintf "train %g, validation %g, test %g" f.Train f.Validation f.Test

    let private checkFractions (f: Fractions) =
        let sum = f.Train + f.Validation + f.Test

        if f.Train <= 0.0 || f.Validation < 0.0 || f.Test < 0.0 || abs (sum - 1.0) > 1e-9 then
            let problem =
                sprintf "fractions must be non-negative, Train > 0, summing to 1; got %s" (describe f)

            invalidArg (nameof f) problem

    /// One class's rows cut into (train, validation, test); each share is rounded half away from
    /// zero, so every class is represented in proportion within one sample.
    let private cut (f: Fractions) data c (rows: int[]) =
        let share fraction = int (Math.Round(fraction * float rows.Length, MidpointRounding.AwayFromZero))

        let test, validation = share f.Test, share f.Validation
        let train = rows.Length - test - validation

        [
            "train", f.Train, train
            "validation", f.Validation, validation
            "test", f.Test, test
        ]
        |> List.tryFind (fun (_, fraction, count) -> fraction > 0.0 && count < 1)
        |> Option.iter (fun (part, _, _) ->
            tooFew data c rows (sprintf "for a stratified split (%s): the %s part would get none" (describe f) part))

        rows[test + validation ..], rows[test .. test + validation - 1], rows[.. test - 1]

    /// The rows `split` puts in its train, validation and test parts, in their order there: for
    /// tools outside Hybrid that must train and test on exactly the same rows.
    let splitRows (fractions: Fractions) (seed: uint64) (data: Dataset) : int[] * int[] * int[] =
        checkFractions fractions
        let rng = Rng seed
        let cuts = byClass rng data |> Array.mapi (cut fractions data)
        // Drawn in this order (train, validation, test): the order fixes every stored split's rows.
        let train = cuts |> Array.collect (fun (train, _, _) -> train) |> shuffled rng

        let validation =
            cuts |> Array.collect (fun (_, validation, _) -> validation) |> shuffled rng

        let test = cuts |> Array.collect (fun (_, _, test) -> test) |> shuffled rng
        train, validation, test

    /// Train, validation and test parts holding each class in the given fractions, drawn from the
    /// seed; a class too small to appear in every part with a positive fraction is an error.
    let split (fractions: Fractions) (seed: uint64) (data: Dataset) : Split =
        let train, validation, test = splitRows fractions seed data

        {
            Train = select train data
            Validation = select validation data
            Test = select test data
        }

    /// k stratified folds drawn from the seed. Each class's rows are dealt in turn to the folds, so
    /// every sample is validated exactly once and fold sizes differ by at most one.
    let kFold (k: int) (seed: uint64) (data: Dataset) : Fold[] =
        if k < 2 then
            invalidArg (nameof k) (sprintf "k-fold needs at least 2 folds, got %d" k)

        let rng = Rng seed
        let classes = byClass rng data

        classes
        |> Array.iteri (fun c rows ->
            if rows.Length < k then
                tooFew data c rows (sprintf "for %d stratified folds: every fold needs one" k))

        let dealt = Array.concat classes |> Array.indexed

        let fold index =
            let validation, train =
                dealt |> Array.partition (fun (position, _) -> position % k = index)

            let part rows = data |> select (rows |> Array.map snd |> shuffled rng)

            { Train = part train; Validation = part validation }

        Array.init k fold

    /// Labels as one-hot rows (Rows × classes, row-major), for losses that take target distributions.
    let oneHot (data: Dataset) : float32[] =
        let classes = data.ClassNames.Length
        let targets = Array.zeroCreate (data.Rows * classes)
        data.Labels |> Array.iteri (fun r label -> targets[r * classes + label] <- 1.0f)
        targets

    /// Rows of features followed by the class index; widths and label range checked.
    let private ofLabelledRows name file (classNames: string[]) (featureNames: string[]) (rows: Reading.Line[]) =
        let columns = featureNames.Length
        let why = sprintf " (%d features, then the label)" columns
        rows |> Array.iter (Reading.checkWidth file (columns + 1) why)

        {
            Name = name
            Features = Reading.features file rows [| 0 .. columns - 1 |]
            Rows = rows.Length
            Columns = columns
            Labels =
                rows
                |> Array.map (fun row -> Reading.classIndex file row columns (Some classNames.Length))
            ClassNames = classNames
            FeatureNames = featureNames
        }

    /// Reads scikit-learn's CSV layout: a header `n_samples,n_features,class names...`, then rows of
    /// features followed by the integer label. Both counts in the header are checked.
    /// The preamble is the file's first line, skipped by the line reader as `Csv.Options.SkipLines`
    /// skips it for a user's file of this layout.
    let internal readCounted name (featureNames: string[]) file (reader: TextReader) : Dataset =
        let preamble, rows = Reading.lines file ',' 1 reader

        if preamble.Length = 0 then
            Reading.fail file (Reading.at 1 1) "the file is empty"

        let header: Reading.Line = { Number = 1; Fields = preamble[0].Split ',' |> Array.map _.Trim() }

        let count column expected =
            match Int32.TryParse header.Fields[column] with
            | true, n when n = expected -> ()
            | _ ->
                let what = if column = 0 then "samples (rows after the header)" else "features"

                let problem =
                    sprintf "the header declares \"%s\" %s, found %d" header.Fields[column] what expected

                Reading.fail file (Reading.at header.Number (column + 1)) problem

        if header.Fields.Length < 3 then
            Reading.fail file (Reading.at header.Number 1) "expected a header n_samples,n_features,class names..."

        count 0 rows.Length
        count 1 featureNames.Length
        ofLabelledRows name file header.Fields[2..] featureNames rows

    /// Built-in data ship inside the assembly, so they load from any directory and from a DLL
    /// referenced by `dotnet fsi`.
    let private builtIn (resource: string) read : Dataset =
        match typeof<Dataset>.Assembly.GetManifestResourceStream("Hybrid.Data." + resource) with
        | null -> invalidOp (sprintf "the built-in data file %s is missing from the Hybrid assembly" resource)
        | stream ->
            use stream = stream
            let file = resource + " (built-in)"
            use reader = Reading.textOf file stream
            read file reader

    /// Fisher's iris: 150 flowers, 4 measurements in cm, 3 species. UCI Machine Learning Repository
    /// (CC BY 4.0), as shipped by scikit-learn; see Data/PROVENANCE.md.
    let iris () : Dataset =
        let features = [|
            "sepal length (cm)"
            "sepal width (cm)"
            "petal length (cm)"
            "petal width (cm)"
        |]

        builtIn "iris.csv" (readCounted "iris" features)

    /// Forina et al.'s wine: 178 wines, 13 results of chemical analysis, 3 cultivars. UCI Machine
    /// Learning Repository (CC BY 4.0), as shipped by scikit-learn; see Data/PROVENANCE.md.
    let wine () : Dataset =
        let features = [|
            "alcohol"
            "malic_acid"
            "ash"
            "alcalinity_of_ash"
            "magnesium"
            "total_phenols"
            "flavanoids"
            "nonflavanoid_phenols"
            "proanthocyanins"
            "color_intensity"
            "hue"
            "od280/od315_of_diluted_wines"
            "proline"
        |]

        builtIn "wine_data.csv" (readCounted "wine" features)

    /// Alpaydin and Kaynak's handwritten digits: 1797 images of 8×8 pixels (0..16, row-major), digits
    /// 0..9. The test set of UCI's "Optical Recognition of Handwritten Digits" (CC BY 4.0), as shipped
    /// by scikit-learn; see Data/PROVENANCE.md. The file has no header, hence the fixed names here.
    let digits () : Dataset =
        let features = [|
            for r in 0..7 do
                for c in 0..7 -> sprintf "pixel_%d_%d" r c
        |]

        let classes = [| for d in 0..9 -> string d |]

        builtIn "digits.csv.gz" (fun file reader ->
            Reading.lines file ',' 0 reader
            |> snd
            |> ofLabelledRows "digits" file classes features)

    /// Where Debian's package dataset-fashion-mnist puts the four original files.
    let fashionMnistDirectory = "/usr/share/datasets/fashion-mnist"

    /// Fashion-MNIST's class names, in the order of its labels 0..9.
    let fashionMnistClasses = [|
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

    /// Fashion-MNIST's four original IDX files (gzip or not) from `directory`, as (train, test).
    /// Missing files are all named at once, with the package that installs them.
    let fashionMnistFrom (directory: string) : Dataset * Dataset =
        let path stem =
            [ stem + ".gz"; stem ]
            |> List.map (fun name -> Path.Combine(directory, name))
            |> List.tryFind File.Exists
            |> Option.defaultValue (Path.Combine(directory, stem + ".gz"))

        let files =
            [
                "train-images-idx3-ubyte"
                "train-labels-idx1-ubyte"
                "t10k-images-idx3-ubyte"
                "t10k-labels-idx1-ubyte"
            ]
            |> List.map path

        match files |> List.filter (File.Exists >> not) with
        | [] -> ()
        | missing ->
            let problem =
                sprintf
                    "Fashion-MNIST is not in %s: missing %s. Debian's package dataset-fashion-mnist installs it in %s (apt-get install dataset-fashion-mnist)"
                    directory
                    (String.Join(", ", missing))
                    fashionMnistDirectory

            raise (FileNotFoundException(problem, missing.Head))

        let part name images labels = { Idx.load fashionMnistClasses images labels with Name = name }

        part "fashion-mnist (train)" files[0] files[1], part "fashion-mnist (test)" files[2] files[3]

    /// Xiao, Rasul and Vollgraf's Fashion-MNIST (Zalando Research, MIT licence): 28×28 grey images of
    /// clothing, 60,000 to train on and 10,000 to test, as (train, test). Pixels keep their bytes
    /// 0..255, as digits keep 0..16: sweeps and `Model.fit` standardize on the training part. Read
    /// from Debian's package dataset-fashion-mnist; nothing is copied into the repository.
    let fashionMnist () : Dataset * Dataset = fashionMnistFrom fashionMnistDirectory

/// Splits of data sets that come with their own test part (Fashion-MNIST, MNIST, most benchmarks).
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Split =

    /// Which rows of `train` train and which validate: a stratified `validation` share of every
    /// class, drawn from the seed, each part in its order in `ofParts`. For tools outside Hybrid that
    /// must use exactly the same rows.
    let rows (validation: float) (seed: uint64) (train: Dataset) : int[] * int[] =
        if not (validation > 0.0 && validation < 1.0) then
            invalidArg
                (nameof validation)
                (sprintf "the validation share must lie strictly between 0 and 1, got %g" validation)

        let trainRows, validationRows, _ =
            Dataset.splitRows { Train = 1.0 - validation; Validation = validation; Test = 0.0 } seed train

        trainRows, validationRows

    /// A split that keeps the given test part and cuts a stratified, seeded validation share from
    /// the training part. The parts must share the class list and the columns.
    let ofParts (validation: float) (seed: uint64) (train: Dataset) (test: Dataset) : Split =
        if test.ClassNames <> train.ClassNames then
            let problem =
                sprintf
                    "%s's classes (%s) are not %s's (%s): a label indexes the class names, so both parts need one list"
                    test.Name
                    (String.Join(", ", test.ClassNames))
                    train.Name
                    (String.Join(", ", train.ClassNames))

            invalidArg (nameof test) problem

        if test.Columns <> train.Columns then
            invalidArg
                (nameof test)
                (sprintf "%s has %d columns, %s has %d" test.Name test.Columns train.Name train.Columns)

        let trainRows, validationRows = rows validation seed train

        {
            Train = Dataset.select trainRows train
            Validation = Dataset.select validationRows train
            Test = test
        }
