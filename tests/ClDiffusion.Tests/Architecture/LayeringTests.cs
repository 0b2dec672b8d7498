using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using NUnit.Framework;

namespace ClDiffusion.Tests.Architecture;

/// <summary>The layer rules of docs/ARCHITECTURE.md, checked on the assemblies and the source tree.</summary>
public class LayeringTests
{
    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ClDiffusion.sln"))) return dir.FullName;
        Assert.Ignore("repository root (ClDiffusion.sln) not found above the test binaries");
        return "";
    }

    static IEnumerable<string> ProjectReferences(string csproj) =>
        XDocument.Load(csproj).Descendants("ProjectReference").Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value));

    [Test]
    public void TheRuntimeAndThePluginDoNotReferenceTheTooling()
    {
        string root = RepoRoot();
        Assert.That(ProjectReferences(Path.Combine(root, "src/ClDiffusion/ClDiffusion.csproj")), Is.Empty);
        Assert.That(ProjectReferences(Path.Combine(root, "src/ClDiffusion.Native/ClDiffusion.Native.csproj")), Is.EqualTo(new[] { "ClDiffusion" }));
        Assert.That(ProjectReferences(Path.Combine(root, "tools/cldiff/cldiff.csproj")), Does.Contain("ClDiffusion.Tooling"));
        Assert.That(typeof(ClDiffusion.Samplers.Sampler).Assembly.GetReferencedAssemblies().Select(a => a.Name), Does.Not.Contain("ClDiffusion.Tooling"));
    }

    /// <summary>No tuner search, benchmark, experiment or scaling study is compiled into the runtime assembly.</summary>
    [Test]
    public void TheRuntimeAssemblyHoldsNoToolingCode()
    {
        var runtime = typeof(ClDiffusion.Samplers.Sampler).Assembly;
        var tooling = new Regex(@"Bench|Benchmark|TuningRunner|TuningStrategy|NfeSweep|Scaling|StepSearch|ExponentFit|KernelCheck");
        var found = runtime.GetTypes().Where(t => t.Namespace?.StartsWith("ClDiffusion") == true && tooling.IsMatch(t.Name) && !t.Name.StartsWith('<'))
            .Select(t => t.FullName).ToList();
        Assert.That(found, Is.Empty);
        Assert.That(runtime.GetTypes().Select(t => t.Namespace).Distinct(), Has.None.StartsWith("ClDiffusion.Experiments").And.None.EqualTo("ClDiffusion.Tuning"));
        // and the tooling has them
        Assert.That(typeof(ClDiffusion.Tooling.OpenCL.TuningRunner).Assembly.GetName().Name, Is.EqualTo("ClDiffusion.Tooling"));
    }

    /// <summary>
    /// "No tuner search in the runtime": the search spaces, their neighbour moves and the tried-candidate history are
    /// tooling types, and the tuning databases embedded in ClDiffusion.dll hold best entries only (no history members).
    /// </summary>
    [Test]
    public void TheRuntimeCarriesNoTunerSearchOrHistory()
    {
        var runtime = typeof(ClDiffusion.Samplers.Sampler).Assembly;
        var search = new[] { typeof(ClDiffusion.Tooling.OpenCL.KernelSpace), typeof(ClDiffusion.Tooling.OpenCL.TuningParameter),
            typeof(ClDiffusion.Tooling.OpenCL.TuningHistory), typeof(ClDiffusion.Tooling.OpenCL.TriedOutcome) };
        Assert.That(search.Select(t => t.Assembly.GetName().Name).Distinct(), Is.EqualTo(new[] { "ClDiffusion.Tooling" }));
        var names = search.Select(t => t.Name).ToHashSet();
        Assert.That(runtime.GetTypes().Where(t => names.Contains(t.Name)).Select(t => t.FullName), Is.Empty, "a search-space or history type in the runtime");
        // no member of a runtime type enumerates candidates, moves to neighbours or records tried candidates
        var verbs = new Regex(@"^(Enumerate|Neighbours|CandidateKey|Record|WasTried|OutcomeOf|get_Tried|get_Outcomes)$");
        var members = runtime.GetTypes().Where(t => t.Namespace?.StartsWith("ClDiffusion.Backends.OpenCL.Tuning") == true)
            .SelectMany(t => t.GetMembers(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
                .Where(m => verbs.IsMatch(m.Name)).Select(m => $"{t.Name}.{m.Name}")).ToList();
        Assert.That(members, Is.Empty);
        var shipped = ClDiffusion.Backends.OpenCL.Tuning.TuningDatabase.ShippedResources;
        Assert.That(shipped, Is.Not.Empty, "the shipped databases are embedded");
        foreach (var name in shipped)
        {
            var json = System.Text.Json.Nodes.JsonNode.Parse(ClDiffusion.Backends.OpenCL.Tuning.TuningDatabase.ShippedText(name))!.AsObject();
            Assert.That(json.Select(kv => kv.Key), Is.EqualTo(new[] { "Devices" }), $"{name} holds more than best entries");
        }
        Assert.That(runtime.GetManifestResourceNames().Where(n => n.Contains("history", StringComparison.OrdinalIgnoreCase)), Is.Empty, "the tuner's history is not embedded");
    }

    /// <summary>
    /// The scheduler, the samplers, the models and the C ABI talk to devices only through IBackend: no source file of
    /// src/ outside a Backends/ folder names an OpenCL or Silk.NET type (the tooling's OpenCL tuner and benchmarks
    /// live in src/ClDiffusion.Tooling/Backends/OpenCL/).
    /// </summary>
    [Test]
    public void NoOpenClTypeOutsideTheBackends()
    {
        string src = Path.Combine(RepoRoot(), "src");
        var openCl = new Regex(@"Silk\.NET|\bOpenCl[A-Z]\w*|\bCl(Device|Mem|Api|Queue|Context|Event|Kernel|Program|Platform|Objects?)\b|Backends\.OpenCL");
        var sep = Path.DirectorySeparatorChar;
        var offenders = Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{sep}obj{sep}") && !f.Contains($"{sep}bin{sep}") && !f.Contains($"{sep}Backends{sep}"))
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (f, i, line)))
            .Where(x => openCl.IsMatch(x.line))
            .Select(x => $"{Path.GetRelativePath(src, x.f)}:{x.i + 1}: {x.line.Trim()}")
            .ToList();
        Assert.That(offenders, Is.Empty);
        Assert.That(Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories).Count(f => f.Contains($"{sep}Scheduling{sep}")), Is.GreaterThan(0), "the scan must see the scheduler");
    }

    /// <summary>Code lines (no comment lines) of the .cs files under the given folders of src/, with file and line for messages.</summary>
    static IEnumerable<(string File, int Line, string Text)> CodeLines(params string[] folders)
    {
        string src = Path.Combine(RepoRoot(), "src");
        var sep = Path.DirectorySeparatorChar;
        foreach (var folder in folders)
        {
            var dir = Path.Combine(src, folder);
            Assert.That(Directory.Exists(dir), $"src/{folder} does not exist: the rule would check nothing");
            foreach (var f in Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains($"{sep}obj{sep}") && !f.Contains($"{sep}bin{sep}")))
                foreach (var (text, i) in File.ReadLines(f).Select((t, i) => (t, i)))
                {
                    var t = text.TrimStart();
                    if (t.StartsWith("//") || t.StartsWith("*") || t.StartsWith("/*")) continue;
                    yield return (Path.GetRelativePath(src, f), i + 1, text.Trim());
                }
        }
    }

    static List<string> Offenders(Regex forbidden, params string[] folders) =>
        CodeLines(folders).Where(l => forbidden.IsMatch(l.Text)).Select(l => $"{l.File}:{l.Line}: {l.Text}").ToList();

    /// <summary>"Mathematics uses nothing below": Random, Diffusion and Models name no backend, sampler, scheduler, support, plugin or tooling code.</summary>
    [Test]
    public void MathematicsUsesNothingBelow() =>
        Assert.That(Offenders(new Regex(@"\bClDiffusion\.(Backends|Samplers|Scheduling|Training|Metrics|Data|Native|Tooling)\b|\b(IBackend|IDeviceBuffer|CpuBackend|OpenClBackend|SamplerContext|ChunkScheduler)\b"),
            "ClDiffusion/Random", "ClDiffusion/Diffusion", "ClDiffusion/Models"), Is.Empty);

    /// <summary>The backends use the mathematics only: no sampler, scheduler, support, plugin or tooling code.</summary>
    [Test]
    public void BackendsUseOnlyTheMathematics() =>
        Assert.That(Offenders(new Regex(@"\bClDiffusion\.(Samplers|Scheduling|Training|Metrics|Data|Native|Tooling)\b|\b(SamplerContext|SamplerOptions|ChunkScheduler|DiffusionEngine)\b"),
            "ClDiffusion/Backends"), Is.Empty);

    /// <summary>The samplers and the scheduler see devices only through IBackend / IBackendStream, never a concrete backend; the samplers never the scheduler.</summary>
    [Test]
    public void SamplersAndTheSchedulerSeeOnlyTheBackendInterface()
    {
        var concrete = new Regex(@"\bClDiffusion\.Backends\.(Cpu|OpenCL)\b|\b(CpuBackend|CpuStream|OpenClBackend|OpenClStream|MlpCpuScore|BackendFactory|DeviceList)\b|\bClDiffusion\.(Native|Tooling)\b");
        Assert.That(Offenders(concrete, "ClDiffusion/Samplers"), Is.Empty);
        Assert.That(Offenders(new Regex(@"\bClDiffusion\.Scheduling\b|\b(ChunkScheduler|ChunkStream|DiffusionEngine)\b"), "ClDiffusion/Samplers"), Is.Empty, "the samplers do not use the scheduler");
        // the scheduler may name the device list only to open devices for DiffusionEngine.Open
        Assert.That(Offenders(concrete, "ClDiffusion/Scheduling").Where(l => !l.Contains("DeviceList.Open(")), Is.Empty);
    }

    /// <summary>The support code (file formats, training data, metrics, the MLP trainer) uses the mathematics only.</summary>
    [Test]
    public void SupportCodeUsesOnlyTheMathematics() =>
        Assert.That(Offenders(new Regex(@"\bClDiffusion\.(Backends|Samplers|Scheduling|Native|Tooling)\b|\b(CpuBackend|OpenClBackend|MlpCpuScore|SamplerContext)\b"),
            "ClDiffusion/IO", "ClDiffusion/Data", "ClDiffusion/Metrics", "ClDiffusion/Training"), Is.Empty);

    /// <summary>
    /// "BackendFactory and DeviceList are the only places that open a device": no other file of the runtime or the plugin
    /// constructs a backend. One listed exception: an OpenCL stream is a sibling OpenClBackend on the device's context
    /// (OpenClStream.cs, made by OpenClBackend.OpenStream; it opens no device). The tooling builds candidate backends
    /// directly (the tuner, the kernel benchmarks) and is not an embedding application's code.
    /// </summary>
    [Test]
    public void OnlyBackendFactoryAndDeviceListOpenDevices()
    {
        var ctor = new Regex(@"new\s+(CpuBackend|OpenClBackend)\s*\(");
        var found = CodeLines("ClDiffusion", "ClDiffusion.Native").Where(l => ctor.IsMatch(l.Text)).ToList();
        var allowed = new[] { "BackendFactory.cs", "DeviceList.cs" };
        var others = found.Where(l => !allowed.Contains(Path.GetFileName(l.File))).ToList();
        Assert.That(others.Select(l => $"{l.File}:{l.Line}: {l.Text}"),
            Is.EqualTo(new[] { "ClDiffusion/Backends/OpenCL/OpenClStream.cs:" + others.FirstOrDefault(l => l.File.EndsWith("OpenClStream.cs")).Line + ": internal OpenClStream(OpenClBackend device) { queue = new OpenClBackend(device); }" }),
            "only the stream's sibling backend (same context, no device opened) may be built outside BackendFactory and DeviceList");
        Assert.That(found.Select(l => Path.GetFileName(l.File)).Distinct(), Is.SupersetOf(allowed), "the scan must see the factory");
    }

    /// <summary>
    /// "The backend's interfaces each fit on a screen": IBackend declares no member of its own (it composes the device
    /// part and the op sets, giving only two defaults), and each of the parts declares at most 12 members.
    /// </summary>
    [Test]
    public void TheBackendIsADeviceAndSmallOpSets()
    {
        var b = typeof(ClDiffusion.Backends.IBackend);
        var parts = new[] { typeof(ClDiffusion.Backends.IBackendDevice), typeof(ClDiffusion.Backends.IVectorOps), typeof(ClDiffusion.Backends.IScoreOps),
            typeof(ClDiffusion.Backends.IMidpointOps), typeof(ClDiffusion.Backends.IPicardOps), typeof(ClDiffusion.Backends.ILangevinOps), typeof(ClDiffusion.Backends.ILogSnrOps) };
        Assert.That(b.GetInterfaces().Where(i => i != typeof(IDisposable)), Is.EquivalentTo(parts));
        const BindingFlags own = BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly;
        Assert.That(b.GetMembers(own), Is.Empty, "IBackend declares members of its own: put them in the device part or an op set");
        foreach (var p in parts)
        {
            int members = p.GetMethods(own).Count(m => !m.IsSpecialName) + p.GetProperties(own).Length;
            Assert.That(members, Is.InRange(1, 12), $"{p.Name} has {members} members");
        }
        // every op set is the backend's (a backend implements them all), and the samplers see them through IBackend
        var runtime = b.Assembly;
        var backendInterfaces = runtime.GetTypes().Where(t => t.IsInterface && t.Namespace == "ClDiffusion.Backends" && t.Name.EndsWith("Ops")).ToList();
        Assert.That(backendInterfaces, Is.SubsetOf(parts), "an op set that IBackend does not compose");
    }

    /// <summary>
    /// The C ABI sees devices through IBackend only (opened by BackendFactory / DeviceList). Listed exception: Exports.cs
    /// validates cld_engine_options.threads with the CPU backend's static CpuBackend.CheckThreads (no device is made).
    /// </summary>
    [Test]
    public void TheCAbiSeesDevicesOnlyThroughTheBackendInterface()
    {
        var concrete = new Regex(@"\bClDiffusion\.Backends\.(Cpu|OpenCL)\b|\b(CpuBackend|OpenClBackend|CpuStream|OpenClStream)\b");
        var offenders = Offenders(concrete, "ClDiffusion.Native").Where(l => !l.Contains("CpuBackend.CheckThreads(")).ToList();
        Assert.That(offenders, Is.Empty);
    }

    /// <summary>
    /// "The chunk pipeline goes through one place": the collect step (non-finite check, map to data space) is written
    /// once, in ChunkPipeline.Collect; SampleRun, ChunkStream and the tooling's PipelineBench call it, and nothing else in
    /// src/ calls the pieces it is made of.
    /// </summary>
    [Test]
    public void TheCollectStepIsWrittenOnce()
    {
        var pieces = new Regex(@"\.ThrowIfNonFinite\(|ChunkPipeline\.ToDataSpace\(|\bToDataSpace\(job|MemoryProbe");
        var uses = CodeLines("ClDiffusion", "ClDiffusion.Native", "ClDiffusion.Tooling").Where(l => pieces.IsMatch(l.Text)).Select(l => l.File).Distinct().ToList();
        Assert.That(uses, Is.EqualTo(new[] { "ClDiffusion/Samplers/ChunkPipeline.cs" }));
        var collect = CodeLines("ClDiffusion", "ClDiffusion.Tooling").Where(l => l.Text.Contains("ChunkPipeline.Collect(") || l.Text.Contains("Collect(ctx, job.Model")).Select(l => Path.GetFileName(l.File)).Distinct();
        Assert.That(collect, Is.SupersetOf(new[] { "ChunkPipeline.cs", "Streams.cs", "PipelineBench.cs" }));
    }
}
