// The one prelude every script loads, right after `#load "_build.fsx"` (which builds the library if
// needed): references the library and the packages it depends on, since a DLL referenced by path
// does not bring its NuGet dependencies. fsi resolves the references of a loaded file before running
// anything in it, so the build must be a separate, earlier #load in the script itself.
// The run store's SQLite provider and its native library; the same version as Directory.Packages.props.
#r "nuget: Microsoft.Data.Sqlite, 10.0.15"
// The shared run store's PostgreSQL provider (HYBRID_STORE=Host=…).
#r "nuget: Npgsql, 10.0.3"
#r "nuget: Spectre.Console, 0.57.2"
#r "nuget: MathNet.Numerics, 5.0.0"
#r "nuget: Plotly.NET, 6.0.0"
// ONNX export writes its protobuf messages with Google.Protobuf.
#r "nuget: Google.Protobuf, 3.36.2"
#r "../src/Hybrid/bin/Release/net10.0/Hybrid.Engine.dll"
#r "../src/Hybrid/bin/Release/net10.0/Hybrid.Onnx.dll"
#r "../src/Hybrid/bin/Release/net10.0/Hybrid.dll"
