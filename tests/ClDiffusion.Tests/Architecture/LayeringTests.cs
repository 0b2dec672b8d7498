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
}
