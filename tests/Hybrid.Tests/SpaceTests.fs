module Hybrid.Tests.SpaceTests

open System
open Microsoft.FSharp.Reflection
open Expecto
// The engine's namespaces first, as a script that needs them may open them: Hybrid's settings
// Optimizer and Schedule must still win over the engine's classes of those names.
open Hybrid.Engine.Model
open Hybrid.Engine.Training
open Hybrid

/// exp(log x) and low + 1·(high − low) may land an ulp or two from the exact value.
let private roundingTolerance = 1e-14

let private closeTo (expected: float) (actual: Value) message =
    match actual with
    | Float f -> Expect.floatClose { absolute = 0.0; relative = roundingTolerance } f expected message
    | other -> failtestf "%s: expected a Float, found %A" message other

/// The largest double below 1: the top of every domain's position range.
let private justBelowOne = Math.BitDecrement 1.0

let private argumentError (action: unit -> 'a) : ArgumentException =
    try
        action () |> ignore
        failtest "expected an ArgumentException"
    with :? ArgumentException as e ->
        e

let private allSettings = Setting.all

let private atTests =
    let letters = Choice [ Int 10; Int 20; Int 30; Int 40 ]

    testList "Domain.at" [
        testCase "a choice at u = 0 picks the first value"
        <| fun () -> Expect.equal (Domain.at letters 0.0) (Int 10) "first"
        testCase "a choice as u → 1⁻ picks the last value"
        <| fun () -> Expect.equal (Domain.at letters justBelowOne) (Int 40) "last"
        testList "a choice picks by position" [
            for i in 0..3 do
                for where, u in [ "start", float i / 4.0; "middle", (float i + 0.5) / 4.0 ] do
                    testCase (sprintf "quarter %d, %s" i where)
                    <| fun () ->
                        Expect.equal (Domain.at letters u) (Int(10 * (i + 1))) "the value of the quarter u falls in"
        ]
        testCase "an integer range includes its low end at u = 0"
        <| fun () -> Expect.equal (Domain.at (IntRange(3, 7)) 0.0) (Int 3) "low"
        testCase "an integer range includes its high end as u → 1⁻"
        <| fun () -> Expect.equal (Domain.at (IntRange(3, 7)) justBelowOne) (Int 7) "high"
        testCase "an integer range gives every integer an equal share of [0, 1)"
        <| fun () ->
            let perValue = 1000

            let counts =
                List.init (5 * perValue) (fun i -> Domain.at (IntRange(-2, 2)) ((float i + 0.5) / float (5 * perValue)))
                |> List.countBy id

            Expect.equal counts [ for v in -2 .. 2 -> Int v, perValue ] "equally many u per integer, in order"
        testCase "a one-value integer range always gives that value"
        <| fun () ->
            for u in [ 0.0; 0.5; justBelowOne ] do
                Expect.equal (Domain.at (IntRange(4, 4)) u) (Int 4) (sprintf "u = %g" u)
        testCase "an integer range wider than Int32.MaxValue stays inside its bounds"
        <| fun () ->
            match Domain.at (IntRange(0, Int32.MaxValue)) 0.5 with
            | Int i -> Expect.isTrue (i >= 0) (sprintf "IntRange(0, Int32.MaxValue) at 0.5 gave %d" i)
            | other -> failtestf "expected an Int, found %A" other
        testList "a float range is linear" [
            for u in [ 0.0; 0.25; 0.5; 0.9; justBelowOne ] ->
                testCase (sprintf "u = %g" u)
                <| fun () -> closeTo (2.0 + 4.0 * u) (Domain.at (FloatRange(2.0, 6.0)) u) "low + u·(high − low)"
        ]
        testCase "a log range starts at its low end"
        <| fun () -> closeTo 1e-4 (Domain.at (LogRange(1e-4, 1.0)) 0.0) "low"
        testCase "a log range ends at its high end"
        <| fun () -> closeTo 1.0 (Domain.at (LogRange(1e-4, 1.0)) justBelowOne) "high"
        testCase "a log range's midpoint is the geometric mean"
        <| fun () -> closeTo (sqrt (1e-4 * 1.0)) (Domain.at (LogRange(1e-4, 1.0)) 0.5) "√(low·high)"
        testCase "a log range gives each decade an equal share"
        <| fun () -> closeTo 1e-3 (Domain.at (LogRange(1e-4, 1.0)) 0.25) "a quarter of the way through four decades"
    ]

let private invalidDomains = [
    "an empty choice", Choice [], "at least one value"
    "an integer range with low above high", IntRange(5, 2), "IntRange(5, 2): low is above high"
    "a float range with low above high", FloatRange(1.0, 0.5), "FloatRange(1, 0.5): low is above high"
    "a float range with a NaN end", FloatRange(nan, 1.0), "FloatRange(NaN, 1)"
    "a log range starting at 0", LogRange(0.0, 1.0), "expected 0 < low ≤ high"
    "a log range starting below 0", LogRange(-1.0, 1.0), "expected 0 < low ≤ high"
    "a log range with low above high", LogRange(1.0, 0.5), "expected 0 < low ≤ high"
]

let private refusalTests =
    testList "invalid domains are refused" [
        for what, domain, message in invalidDomains do
            for used, call in
                [
                    "Domain.at", (fun () -> Domain.at domain 0.5 |> ignore)
                    "Domain.grid", (fun () -> Domain.grid 3 domain |> ignore)
                ] ->
                testCase (sprintf "%s by %s" what used)
                <| fun () -> Expect.stringContains (argumentError call).Message message "the message says what is wrong"
    ]

let private gridTests =
    let ints values = values |> List.map Int

    let evenlySpread low high steps (values: Value list) =
        Expect.equal values.Length steps "steps distinct values"
        Expect.equal (List.distinct values) values "distinct"
        Expect.equal (List.head values, List.last values) (Int low, Int high) "both ends"

        values
        |> List.iteri (fun i v ->
            let ideal = float low + float i * float (high - low) / float (steps - 1)

            match v with
            | Int n ->
                Expect.isLessThanOrEqual
                    (abs (float n - ideal))
                    0.5
                    (sprintf "value %d lies within ½ of the even spacing" i)
            | other -> failtestf "expected an Int, found %A" other)

    testList "Domain.grid" [
        testList "a choice lists all its values, whatever the steps" [
            for steps in [ 1; 2; 10 ] ->
                testCase (sprintf "%d steps" steps)
                <| fun () ->
                    let values = [
                        SkipValue SkipKind.Dense
                        SkipValue SkipKind.Diagonal
                        SkipValue SkipKind.None
                    ]

                    Expect.equal (Domain.grid steps (Choice values)) values "every choice, in order"
        ]
        testCase "a small integer range lists every integer"
        <| fun () -> Expect.equal (Domain.grid 10 (IntRange(1, 5))) (ints [ 1..5 ]) "1..5"
        testCase "an integer range of exactly `steps` values lists every integer"
        <| fun () -> Expect.equal (Domain.grid 5 (IntRange(-2, 2))) (ints [ -2 .. 2 ]) "-2..2"
        testList "a large integer range gives `steps` evenly spread integers including both ends" [
            for low, high, steps in [ 0, 1000, 7; 0, 7, 7; -50, 50, 4; 1, 100, 2; 16, 512, 5 ] ->
                testCase (sprintf "IntRange(%d, %d), %d steps" low high steps)
                <| fun () -> evenlySpread low high steps (Domain.grid steps (IntRange(low, high)))
        ]
        testCase "one step of a large integer range is its low end"
        <| fun () -> Expect.equal (Domain.grid 1 (IntRange(3, 300))) [ Int 3 ] "low"
        testCase "a float range gives evenly spaced values from end to end"
        <| fun () ->
            let values = Domain.grid 5 (FloatRange(-1.0, 1.0))
            Expect.equal values.Length 5 "steps values"

            List.zip [ -1.0; -0.5; 0.0; 0.5; 1.0 ] values
            |> List.iteri (fun i (e, v) -> closeTo e v (sprintf "value %d" i))
        testCase "a log range gives log-spaced values from end to end"
        <| fun () ->
            let values = Domain.grid 5 (LogRange(1e-3, 10.0))
            Expect.equal values.Length 5 "steps values"

            List.zip [ 1e-3; 1e-2; 1e-1; 1.0; 10.0 ] values
            |> List.iteri (fun i (e, v) -> closeTo e v (sprintf "decade %d" i))
        testCase "one step of a float range is its low end"
        <| fun () -> Expect.equal (Domain.grid 1 (FloatRange(0.25, 4.0))) [ Float 0.25 ] "low"
    ]

/// The unscrambled Strategy.Sobol sequence from the origin on, as scipy.stats.qmc.Sobol(2, scramble=False) gives it.
let private scipyFirstEight = [
    [| 0.0; 0.0 |]
    [| 0.5; 0.5 |]
    [| 0.75; 0.25 |]
    [| 0.25; 0.75 |]
    [| 0.375; 0.375 |]
    [| 0.875; 0.875 |]
    [| 0.625; 0.125 |]
    [| 0.125; 0.625 |]
]

/// Rows d = 2..16 of Joe & Kuo's new-joe-kuo-6.21201.txt, copied from the published file (not from
/// Space.fs): degree s, coefficients a, initial direction numbers m_1..m_s.
let private publishedDirections = [|
    1, 0, [ 1 ]
    2, 1, [ 1; 3 ]
    3, 1, [ 1; 3; 1 ]
    3, 2, [ 1; 1; 1 ]
    4, 1, [ 1; 1; 3; 3 ]
    4, 4, [ 1; 3; 5; 13 ]
    5, 2, [ 1; 1; 5; 5; 17 ]
    5, 4, [ 1; 1; 5; 5; 5 ]
    5, 7, [ 1; 1; 7; 11; 19 ]
    5, 11, [ 1; 1; 5; 1; 1 ]
    5, 13, [ 1; 1; 1; 3; 11 ]
    5, 14, [ 1; 3; 5; 5; 31 ]
    6, 1, [ 1; 3; 3; 9; 7; 49 ]
    6, 13, [ 1; 1; 1; 15; 21; 21 ]
    6, 16, [ 1; 3; 1; 13; 27; 49 ]
|]

/// The degree of each dimension's polynomial; dimension 1 (van der Corput) is x, of degree 1.
let private degree dimension =
    if dimension = 1 then
        1
    else
        (let s, _, _ = publishedDirections[dimension - 2] in s)

/// The slow twin: Sobol's own integer recurrence for m_k, m_k = 2a₁m_{k−1} ⊕ … ⊕ 2^{s−1}a_{s−1}m_{k−s+1}
/// ⊕ 2^s m_{k−s} ⊕ m_{k−s}, and the n-th point as the XOR of v_k = m_k / 2^k over the set bits of
/// n's Gray code. `dimension` counts from 1.
let private referencePoint dimension (n: int) =
    let bits = 32

    let m =
        if dimension = 1 then
            Array.create bits 1UL
        else
            let s, a, initial = publishedDirections[dimension - 2]
            let m = Array.zeroCreate<uint64> bits
            List.iteri (fun k mk -> m[k] <- uint64 mk) initial

            for k in s .. bits - 1 do
                let mutable next = (m[k - s] <<< s) ^^^ m[k - s]

                for j in 1 .. s - 1 do
                    if (a >>> (s - 1 - j)) &&& 1 = 1 then
                        next <- next ^^^ (m[k - j] <<< j)

                m[k] <- next

            m

    let gray = n ^^^ (n >>> 1)
    let mutable x = 0UL

    for k in 0 .. bits - 1 do
        if (gray >>> k) &&& 1 = 1 then
            x <- x ^^^ (m[k] <<< (bits - 1 - k))

    float x / 4294967296.0

let private firstPoints =
    lazy (Array.ofList ([| for _ in 1..16 -> 0.0 |] :: Sobol.points 16 1023))

let private sobolTests =
    testList "Sobol.points" [
        testCase "dimension 1 is the van der Corput sequence after the origin"
        <| fun () ->
            Expect.equal
                (Sobol.points 1 7 |> List.map (fun p -> p[0]))
                (scipyFirstEight.Tail |> List.map (fun p -> p[0]))
                "scipy's points 1..7"
        testCase "dimensions 1 and 2 are scipy's unscrambled points after the origin"
        <| fun () -> Expect.equal (Sobol.points 2 7) scipyFirstEight.Tail "scipy's points 1..7"
        testCase "no point is the origin"
        <| fun () ->
            Expect.isFalse (Sobol.points 16 1023 |> List.exists (Array.forall ((=) 0.0))) "the origin is skipped"
        testCase "the first dimensions do not depend on how many there are"
        <| fun () ->
            Expect.equal
                (Sobol.points 16 64 |> List.map (fun p -> p[..2]))
                (Sobol.points 3 64)
                "a prefix of the dimensions"
        testCase "zero points"
        <| fun () -> Expect.isEmpty (Sobol.points 4 0) "none asked, none given"
        testCase "every coordinate lies in [0, 1)"
        <| fun () ->
            for p in Sobol.points 16 4095 do
                for x in p do
                    Expect.isTrue (0.0 <= x && x < 1.0) (sprintf "%g in [0, 1)" x)
        testList "dimension bounds are refused" [
            for dimensions in [ 0; -1; Sobol.maxDimensions + 1 ] ->
                testCase (sprintf "%d dimensions" dimensions)
                <| fun () ->
                    let e = argumentError (fun () -> Sobol.points dimensions 4)

                    Expect.stringContains
                        e.Message
                        (sprintf "expected 1 to %d dimensions, found %d" Sobol.maxDimensions dimensions)
                        "the bounds and the request"
        ]
        testCase "16 dimensions are offered"
        <| fun () -> Expect.equal Sobol.maxDimensions 16 "Joe & Kuo's rows 2..16 plus van der Corput"
        testList "each dimension matches Sobol's recurrence on the published direction numbers" [
            for d in 1..16 ->
                testCase (sprintf "dimension %d" d)
                <| fun () ->
                    let points = firstPoints.Force()

                    for n in 0 .. points.Length - 1 do
                        let actual, expected = points[n][d - 1], referencePoint d n

                        if actual <> expected then
                            failtestf "point %d: %.10f, Sobol's recurrence gives %.10f" n actual expected
        ]
        testList "each dimension's first 2^k points (with the origin) put one point in each interval of width 2^-k" [
            for d in 1..16 do
                for k in 1..10 ->
                    testCase (sprintf "dimension %d, k = %d" d k)
                    <| fun () ->
                        let cells =
                            firstPoints.Force()[.. (1 <<< k) - 1]
                            |> Array.map (fun p -> int (p[d - 1] * float (1 <<< k)))
                            |> Array.sort

                        Expect.equal cells [| 0 .. (1 <<< k) - 1 |] "a permutation of the intervals"
        ]
        // Squares of side 2^-j (one point each among 2^2j) hold only for pairs with t = 0; in general a
        // pair of Strategy.Sobol dimensions is a (t, m, 2)-net with t = (deg₁ − 1) + (deg₂ − 1): every box
        // [a/2^d₁, (a+1)/2^d₁) × [b/2^d₂, (b+1)/2^d₂) with d₁ + d₂ = m − t holds exactly 2^t of the first 2^m points.
        testList "each pair of dimensions is a (t, m, 2)-net with Sobol's t" [
            for d1 in 1..16 do
                for d2 in d1 + 1 .. 16 ->
                    testCase (sprintf "dimensions %d and %d" d1 d2)
                    <| fun () ->
                        let points = firstPoints.Force()
                        let t = degree d1 - 1 + degree d2 - 1

                        for m in t + 1 .. 10 do
                            for b1 in 0 .. m - t do
                                let b2 = m - t - b1

                                let counts =
                                    points[.. (1 <<< m) - 1]
                                    |> Array.countBy (fun p ->
                                        int (p[d1 - 1] * float (1 <<< b1)), int (p[d2 - 1] * float (1 <<< b2)))

                                if
                                    counts.Length <> (1 <<< (b1 + b2))
                                    || counts |> Array.exists (fun (_, c) -> c <> (1 <<< t))
                                then
                                    failtestf
                                        "m = %d, boxes 2^-%d × 2^-%d: %d boxes hit, counts %A (expected %d each)"
                                        m
                                        b1
                                        b2
                                        counts.Length
                                        (counts |> Array.map snd |> Array.distinct)
                                        (1 <<< t)
        ]
    ]

let private scriptSpace: Space = [
    M, ints [ 32; 64 ]
    Skip, skips [ SkipKind.Dense; SkipKind.None ]
    LearningRate, LogRange(1e-3, 1e-2)
]

let private inDomain (domain: Domain) (value: Value) =
    match domain, value with
    | Choice values, v -> List.contains v values
    | IntRange(low, high), Int i -> low <= i && i <= high
    | FloatRange(low, high), Float f -> low <= f && f <= high
    | LogRange(low, high), Float f -> low <= f && f <= high
    | _ -> false

let private checkWithinDomains (space: Space) (points: (Setting * Value) list list) =
    for point in points do
        Expect.equal (List.map fst point) (List.map fst space) "every setting, in the space's order"

        for (setting, value), (_, domain) in List.zip point space do
            Expect.isTrue
                (inDomain domain value)
                (sprintf "%s = %s within %A" (Setting.name setting) (Value.format value) domain)

let private spaceTests =
    let wide: Space = [
        M, IntRange(8, 256)
        LearningRate, LogRange(1e-4, 1e-1)
        Momentum, FloatRange(0.0, 0.99)
        Optimizer, optimizers [ OptimizerKind.Sgd; OptimizerKind.Adam; OptimizerKind.AdamW ]
    ]

    testList "Space.points" [
        testCase "a grid is the Cartesian product, first setting slowest"
        <| fun () ->
            let points = Space.points (Strategy.Grid 3) scriptSpace

            let expected = [
                for m in [ 32; 64 ] do
                    for skip in [ SkipKind.Dense; SkipKind.None ] do
                        for lr in Domain.grid 3 (LogRange(1e-3, 1e-2)) ->
                            [ M, Int m; Skip, SkipValue skip; LearningRate, lr ]
            ]

            Expect.equal points expected "2 × 2 × 3 points in nested order"
        testList "a grid has as many points as the product of the grid sizes" [
            for steps in [ 1; 2; 5 ] ->
                testCase (sprintf "Grid %d" steps)
                <| fun () ->
                    let expected =
                        wide |> List.map (fun (_, d) -> (Domain.grid steps d).Length) |> List.reduce (*)

                    Expect.equal (Space.points (Strategy.Grid steps) wide).Length expected "the product"
        ]
        testCase "a grid of less than one step is refused"
        <| fun () ->
            Expect.stringContains
                (argumentError (fun () -> Space.points (Strategy.Grid 0) scriptSpace)).Message
                "at least 1 step"
                "the message"
        testCase "random points with one seed are the same points"
        <| fun () ->
            Expect.equal
                (Space.points (Strategy.Random(20, 7UL)) wide)
                (Space.points (Strategy.Random(20, 7UL)) wide)
                "same seed, same points"
        testCase "random points with another seed are other points"
        <| fun () ->
            Expect.notEqual
                (Space.points (Strategy.Random(20, 7UL)) wide)
                (Space.points (Strategy.Random(20, 8UL)) wide)
                "another seed"
        testCase "random points: count, and every value within its domain"
        <| fun () ->
            let points = Space.points (Strategy.Random(200, 1UL)) wide
            Expect.equal points.Length 200 "count"
            checkWithinDomains wide points
        testCase "random points reach every choice"
        <| fun () ->
            let optimizers =
                Space.points (Strategy.Random(200, 1UL)) wide
                |> List.map (List.item 3 >> snd)
                |> List.distinct
                |> List.length

            Expect.equal optimizers 3 "all three optimizers drawn in 200 points"
        testCase "Strategy.Sobol points: count, and every value within its domain"
        <| fun () ->
            let points = Space.points (Strategy.Sobol 33) wide
            Expect.equal points.Length 33 "count"
            checkWithinDomains wide points
        testCase "Strategy.Sobol points are the Strategy.Sobol sequence mapped through the domains"
        <| fun () ->
            let expected =
                Sobol.points 4 16
                |> List.map (fun u -> List.mapi (fun i (s, d) -> s, Domain.at d u[i]) wide)

            Expect.equal (Space.points (Strategy.Sobol 16) wide) expected "Domain.at of each coordinate"
        testList "a setting twice is refused" [
            for strategy in [ Strategy.Grid 2; Strategy.Random(3, 1UL); Strategy.Sobol 3 ] ->
                testCase (sprintf "%A" strategy)
                <| fun () ->
                    let twice = [ M, ints [ 1 ]; Skip, skips [ SkipKind.Dense ]; M, ints [ 2 ] ]

                    Expect.stringContains
                        (argumentError (fun () -> Space.points strategy twice)).Message
                        "a setting appears twice"
                        "the message"
        ]
        testList "an empty space has one point, the empty one" [
            for strategy in [ Strategy.Grid 3; Strategy.Random(5, 1UL); Strategy.Sobol 5 ] ->
                testCase (sprintf "%A" strategy)
                <| fun () -> Expect.equal (Space.points strategy []) [ [] ] "just the base settings"
        ]
    ]

/// A value of the right kind for each setting, unlike its default so that a round trip can fail.
let private sample (setting: Setting) =
    match setting with
    | M -> Int 17
    | L -> Int 9
    | Skip -> SkipValue SkipKind.Diagonal
    | Optimizer -> OptimizerValue OptimizerKind.Sgd
    | LearningRate -> Float 0.0123
    | Momentum -> Float 0.9
    | WeightDecay -> Float 1e-4
    | Schedule -> ScheduleValue ScheduleKind.Cosine
    | WarmupEpochs -> Int 3
    | BatchSize -> Int 7
    | Epochs -> Int 11

/// A value of the wrong kind for each setting.
let private wrongKind (setting: Setting) =
    match sample setting with
    | Int _ -> Float 0.5
    | Float _ -> Int 2
    | SkipValue _ -> OptimizerValue OptimizerKind.AdamW
    | OptimizerValue _ -> ScheduleValue ScheduleKind.Step
    | ScheduleValue _ -> SkipValue SkipKind.None

let private settingTests =
    testList "Setting" [
        testList "apply then read gives the value" [
            for setting in allSettings ->
                testCase (Setting.name setting)
                <| fun () ->
                    Expect.notEqual
                        (Setting.read setting Settings.defaults)
                        (sample setting)
                        "the sample differs from the default"

                    Expect.equal
                        (Settings.defaults
                         |> Setting.apply setting (sample setting)
                         |> Setting.read setting)
                        (sample setting)
                        "round trip"
        ]
        testList "apply changes only its own setting" [
            for setting in allSettings ->
                testCase (Setting.name setting)
                <| fun () ->
                    let changed = Settings.defaults |> Setting.apply setting (sample setting)

                    for other in allSettings |> List.filter ((<>) setting) do
                        Expect.equal
                            (Setting.read other changed)
                            (Setting.read other Settings.defaults)
                            (Setting.name other)
        ]
        testList "a value of the wrong kind is refused, naming both" [
            for setting in allSettings ->
                testCase (Setting.name setting)
                <| fun () ->
                    let value = wrongKind setting
                    let e = argumentError (fun () -> Setting.apply setting value Settings.defaults)
                    Expect.stringContains e.Message (sprintf "'%s'" (Setting.name setting)) "names the setting"
                    Expect.stringContains e.Message (Value.format value) "names the value"
        ]
        testList "names" [
            for setting, name in
                [
                    M, "M"
                    L, "L"
                    Skip, "skip"
                    Optimizer, "optimizer"
                    LearningRate, "learning rate"
                    Momentum, "momentum"
                    WeightDecay, "weight decay"
                    Schedule, "schedule"
                    WarmupEpochs, "warm-up epochs"
                    BatchSize, "batch size"
                    Epochs, "epochs"
                ] ->
                testCase name
                <| fun () -> Expect.equal (Setting.name setting) name "the name reports show"
        ]
        testCase "every setting has its own name"
        <| fun () ->
            Expect.equal
                (allSettings |> List.map Setting.name |> List.distinct).Length
                allSettings.Length
                "distinct names"
        testCase "Setting.all holds every case, once"
        <| fun () ->
            Expect.equal allSettings.Length (FSharpType.GetUnionCases typeof<Setting>).Length "every case"
            Expect.equal (List.distinct allSettings) allSettings "once each"
        testCase "a stored name reads back as its setting; another name as none"
        <| fun () ->
            Expect.equal
                (allSettings |> List.map (Setting.name >> Setting.ofName))
                (List.map Some allSettings)
                "round trip"

            Expect.isNone (Setting.ofName "learning_rate") "an unknown name"
    ]

let private formatTests =
    testList "Value.format" [
        for value, text in
            [
                Int 32, "32"
                Int -5, "-5"
                Float 0.001, "0.001"
                Float 3e-3, "0.003"
                Float(0.1 + 0.2), "0.3"
                Float 1e-7, "1E-07"
                Float 0.00316227766016838, "0.00316228"
                Float 1234567.0, "1.23457E+06"
                SkipValue SkipKind.Dense, "Dense"
                SkipValue SkipKind.Diagonal, "Diagonal"
                SkipValue SkipKind.None, "None"
                OptimizerValue OptimizerKind.Sgd, "Sgd"
                OptimizerValue OptimizerKind.Adam, "Adam"
                OptimizerValue OptimizerKind.AdamW, "AdamW"
                ScheduleValue ScheduleKind.Constant, "Constant"
                ScheduleValue ScheduleKind.Step, "Step"
                ScheduleValue ScheduleKind.Cosine, "Cosine"
            ] ->
            testCase text
            <| fun () -> Expect.equal (Value.format value) text (sprintf "%A" value)
    ]

let tests =
    testList "Space" [
        atTests
        refusalTests
        gridTests
        sobolTests
        spaceTests
        settingTests
        formatTests
    ]
