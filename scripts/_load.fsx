// The one prelude every script loads: builds the library if needed, then references it and the
// packages it depends on (a DLL referenced by path does not bring its NuGet dependencies).
#load "_build.fsx"
#r "../src/Hybrid/bin/Release/net10.0/Hybrid.Engine.dll"
#r "../src/Hybrid/bin/Release/net10.0/Hybrid.dll"
