using ClDiffusion.Cli.Commands;
using CommandLine;
using CommandLine.Text;

namespace ClDiffusion.Cli;

/// <summary>
/// cldiff: sample, evaluate, benchmark and inspect devices. Every failure prints one line naming the problem
/// to stderr and exits non-zero; outputs are written atomically, so a failed run never leaves a partial file.
/// </summary>
public static class Program
{
    /// <summary>
    /// Spellings CommandLineParser cannot declare (it rejects one-letter long names), mapped to the declared ones:
    /// the documented spellings are --n COUNT, and for score --x FILE --t TIME.
    /// </summary>
    static readonly Dictionary<string, string> Aliases = new() { ["--n"] = "--count", ["--x"] = "--points", ["--t"] = "--time" };

    static string Alias(string a)
    {
        int eq = a.IndexOf('=');
        string name = eq < 0 ? a : a[..eq];
        return Aliases.TryGetValue(name, out var to) ? to + (eq < 0 ? "" : a[eq..]) : a;
    }

    public static int Main(string[] args)
    {
        // the library never writes to the console; the CLI shows its notices (e.g. auto fell back to the CPU backend)
        ClDiffusion.Backends.BackendFactory.Log = m => Console.Error.WriteLine(m);
        // help is written by WriteHelp (not the parser) so that sampling verbs can list the sampler registry and defaults
        var parser = new Parser(s => { s.HelpWriter = null; s.CaseInsensitiveEnumValues = true; s.AutoVersion = true; });
        args = args.Select(Alias).ToArray();
        Type[] verbs = [typeof(SampleOptions), typeof(EvalOptions), typeof(DevicesOptions), typeof(BenchOptions), typeof(ExperimentOptions),
            typeof(TrainOptions), typeof(ScoreOptions), typeof(CheckOptions), typeof(DemoOptions), typeof(SelfTestOptions), typeof(MergeOptions),
            typeof(TuneOptions), typeof(MlpBenchOptions), typeof(ScalingOptions), typeof(SamplersOptions), typeof(ImageEvalOptions)];
        try
        {
            // a sampling verb's sampler options come from SamplerOptionTable: taken out here, parsed by their table entries
            List<(ClDiffusion.Samplers.SamplerOptionInfo, string)> given = [];
            if (args.Length > 0 && verbs.FirstOrDefault(v => v.GetCustomAttributes(typeof(VerbAttribute), false).OfType<VerbAttribute>().Any(a => a.Name == args[0])) is { } verb
                && typeof(SamplerCliOptions).IsAssignableFrom(verb))
                args = SamplerFlags.Extract(args, out given);
            var result = parser.ParseArguments(args, verbs);
            result.WithParsed<SamplerCliOptions>(o => o.Given = given);
            return result.MapResult(
                (SampleOptions o) => SampleCommand.Run(o),
                (EvalOptions o) => EvalCommand.Run(o),
                (DevicesOptions o) => DevicesCommand.Run(o.Json),
                (BenchOptions o) => BenchCommand.Run(o),
                (ExperimentOptions o) => ExperimentCommand.Run(o),
                (TrainOptions o) => o.Run(),
                (ScoreOptions o) => o.Run(),
                (CheckOptions o) => o.Run(),
                (DemoOptions o) => DemoCommand.Run(o),
                (SelfTestOptions o) => SelfTestCommand.Run(o),
                (MergeOptions o) => MergeCommand.Run(o),
                (MlpBenchOptions o) => MlpBenchCommand.Run(o),
                (TuneOptions o) => TuneCommand.Run(o),
                (ScalingOptions o) => ScalingCommand.Run(o),
                (SamplersOptions o) => o.Run(),
                (ImageEvalOptions o) => ImageEvalCommand.Run(o),
                errs => WriteHelp(result, errs));
        }
        catch (OperationCanceledException) { Console.Error.WriteLine("cldiff: cancelled"); return 130; }
        catch (Exception e) when (e is ClDiffusion.Backends.BackendException or ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or IOException or NotSupportedException or UnauthorizedAccessException or InvalidOperationException)
        {
            Console.Error.WriteLine($"cldiff: error: {e.Message}");
            return 1;
        }
    
    /// <summary>
    /// Help or version asked for (--help, help VERB, --version): stdout, exit 0. A parse error: the errors and the help on
    /// stderr, exit 2. A sampling verb's help ends with the sampler registry and the defaults.
    /// </summary>
    static int WriteHelp(ParserResult<object> result, IEnumerable<Error> errors)
    {
        var errs = errors.ToList();
        bool asked = errs.Any(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.HelpVerbRequestedError or ErrorType.VersionRequestedError);
        // not HeadingInfo.Default: that names the entry assembly (a test host, when run in-process)
        string heading = $"cldiff {ClDiffusion.Version.Text}";
        if (errs.Any(e => e.Tag is ErrorType.VersionRequestedError)) { Console.Out.WriteLine(heading); return 0; }
        bool samplingVerb = typeof(SamplerCliOptions).IsAssignableFrom(result.TypeInfo.Current);
        var help = HelpText.AutoBuild(result, h =>
        {
            h.MaximumDisplayWidth = 120;
            h.Heading = heading;
            h.Copyright = "MIT licence; docs: README.md and docs/ in the repository";
            if (samplingVerb) h.AddPostOptionsLines(SamplerHelp.Lines());
            return HelpText.DefaultParsingErrorsHandler(result, h);
        }, e => e, verbsIndex: result.TypeInfo.Current == typeof(NullInstance));
        (asked ? Console.Out : Console.Error).WriteLine(help);
        return asked ? 0 : 2;
    }
}
}
