module Hybrid.Tests.Main

open Expecto

let all =
    testList "Hybrid" [
        DatasetTests.tests
        GivenPartsTests.tests
        SafetensorsTests.tests
        ModelTests.tests
        OnnxTests.tests
        WeightsDigestTests.tests
        SpaceTests.tests
        ExperimentTests.tests
        RankingTests.tests
        StoreOpeningTests.tests
        StoreTests.tests
        StoreConcurrencyTests.tests
        PreludeTests.tests
        // These set HYBRID_RUNS for this process while a sweep runs in it: never at the same time.
        testSequencedGroup "HYBRID_RUNS" SweepTests.tests
        testSequencedGroup "HYBRID_RUNS" WorkersTests.tests
        testSequencedGroup "HYBRID_RUNS" VerifyTests.tests
        testSequencedGroup "HYBRID_RUNS" SearchTests.tests
        FuzzChild.tests
        ReportTests.tests
        DiskTests.tests
        BrowserTests.tests
        DashboardTests.tests
        DashboardBrowserTests.tests
    ]

[<EntryPoint>]
let main argv =
    match argv with
    // The store's durability test runs this program again as a writer and kills it mid-sweep.
    | [| "--store-writer"; file |] -> StoreConcurrencyTests.writer file
    // The claim test runs this program as 8 processes claiming trials of one store at once.
    | [| "--claimer"; location |] -> StoreConcurrencyTests.claimer location
    // The sweep's resume test runs this program again as a sweep and kills it mid-run.
    | [| "--sweep-child"; root |] -> SweepTests.child root
    // The shared-store tests run this program as 4 workers of one sweep (grid or adaptive) and kill one.
    | [| "--sweep-worker"; location; root; kind |] -> WorkersTests.worker location root kind
    // The adaptive-search tests run this program as workers of one search, and kill it mid-search.
    | [| "--search-child"; root |] -> SearchTests.child root
    // The disk-fault tests run a small sweep as a child process on a full or read-only disk.
    | [| "--disk-child"; root; seeds |] -> DiskTests.child root seeds
    // The fuzz tests run as children under a heap limit, one per group.
    | [| "--fuzz-child"; group |] -> FuzzChild.child group
    // The digest test runs this program again with 512-bit vectors turned off.
    | [| "--weights-digest" |] -> WeightsDigestTests.child ()
    | _ -> runTestsWithCLIArgs [] argv all
