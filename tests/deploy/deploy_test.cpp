// The AWS deployment files, tested without an AWS account: deploy/aws/template.yaml passes cfn-lint and has
// what the issue asks for; scripts/deploy-aws.sh --dry-run prints every command and runs none; a real run
// against stub `aws` and `docker` commands makes the right calls in the right order (and --delete cleans
// up); bad options and missing tools/credentials fail with a message saying what to do; the Dockerfile's
// runtime packages cover every library the built binary needs.
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "testutil/testutil.h"

namespace facepipe::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool have(const std::string& tool) { return run_command("command -v " + tool + " >/dev/null 2>&1").exit_code == 0; }

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void write_file(const fs::path& p, const std::string& text, bool executable = false) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
  if (executable) fs::permissions(p, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
}

// A scratch directory removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "facepipe-deploy-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Position of `needle` in `hay` (fails the test when absent), to check the order of commands.
size_t find_or_fail(const std::string& hay, const std::string& needle) {
  const size_t at = hay.find(needle);
  EXPECT_NE(at, std::string::npos) << "missing: " << needle << "\n--- output:\n" << hay;
  return at;
}

// Stub `aws` and `docker` that log every call (one line each) to $STUB_LOG and answer like the real ones
// would for a fresh account: no ECR repository yet, a stack whose outputs exist after the deploy.
void write_stubs(const fs::path& bin) {
  write_file(bin / "aws", R"SH(#!/usr/bin/env bash
echo "aws $*${AWS_PROFILE:+ [profile $AWS_PROFILE]}" >>"$STUB_LOG"
case "$1 $2" in
  "sts get-caller-identity") [ -z "${STUB_NO_CREDENTIALS:-}" ] || exit 255; echo 123456789012 ;;
  "configure get") exit 1 ;;
  "ecr describe-repositories") echo "An error occurred (RepositoryNotFoundException)" >&2; exit 254 ;;
  "ecr get-login-password") echo stub-password ;;
  "cloudformation describe-stacks")
    case "$*" in
      *StackStatus*) echo "${STUB_STACK_STATUS:-CREATE_COMPLETE}" ;;
      *FunctionUrl*) echo https://stuburl.lambda-url.us-east-1.on.aws/ ;;
      *ResponseQueueUrl*) echo https://sqs.us-east-1.amazonaws.com/123456789012/t1-resp-queue ;;
      *ClipsBucket*) echo t1-clips-123456789012-us-east-1 ;;
      *PeopleTable*) echo t1-people ;;
    esac ;;
  *) echo '{}' ;;
esac
)SH",
             true);
  write_file(bin / "docker", R"SH(#!/usr/bin/env bash
if [ "$1" = login ]; then echo "docker $* <<< $(cat)" >>"$STUB_LOG"; else echo "docker $*" >>"$STUB_LOG"; fi
[ "$1" != info ] || [ -z "${STUB_NO_DAEMON:-}" ] || exit 1
exit 0
)SH",
             true);
  // Anything the dry run must not start: these stubs leave a mark.
}

// A copy of the deployment files laid out like the checkout (the script works relative to its own
// location), so a stubbed "real" run stages its build context in the scratch directory, not the checkout.
fs::path copy_checkout(const fs::path& root) {
  const fs::path src = source_dir();
  fs::create_directories(root / "scripts");
  fs::create_directories(root / "deploy/aws");
  fs::copy_file(src / "scripts/deploy-aws.sh", root / "scripts/deploy-aws.sh");
  for (const char* f : {"Dockerfile", "template.yaml", "Dockerfile.dockerignore"})
    fs::copy_file(src / "deploy/aws" / f, root / "deploy/aws" / f);
  return root / "scripts/deploy-aws.sh";
}

// A models directory with the files the image needs (contents do not matter to the script).
fs::path fake_models(const fs::path& root) {
  const fs::path m = root / "models";
  for (const char* f : {"mtcnn/pnet.pt", "mtcnn/rnet.pt", "mtcnn/onet.pt",
                        "faceapi/face_recognition_model-weights_manifest.json", "faceapi/face_recognition_model.bin"})
    write_file(m / f, "weights");
  return m;
}

// A small gallery database as facepipe makes them (sqlite3 when present, else any file).
fs::path fake_gallery(const fs::path& root, const std::string& embedder = "faceapi-resnet34/150",
                      const std::string& file = "gallery.db") {
  const fs::path g = root / file;
  if (have("sqlite3")) {
    EXPECT_EQ(run_command("sqlite3 " + sh_quote(g.string()) +
                          " \"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                          " INSERT INTO meta VALUES ('embedder_id', '" +
                          embedder + "');\"")
                  .exit_code,
              0);
  } else {
    write_file(g, "gallery");
  }
  return g;
}

std::string script() { return (source_dir() / "scripts/deploy-aws.sh").string(); }

// ------------------------------------------------------------------------------------------------ template

TEST(DeployTemplate, CfnLintPasses) {
  if (!have("cfn-lint")) GTEST_SKIP() << "cfn-lint is not installed (pip install cfn-lint): template not linted";
  const auto r =
      run_command("cfn-lint " + sh_quote((source_dir() / "deploy/aws/template.yaml").string()), /*merge_stderr=*/true);
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// The template as JSON (CloudFormation's short tags such as !Ref become {"Ref": ...}), via python3 + PyYAML.
json load_template() {
  const std::string py = R"(
import json, sys, yaml
class L(yaml.SafeLoader): pass
def tag(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else "Fn::" + suffix
    if isinstance(node, yaml.ScalarNode): v = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode): v = loader.construct_sequence(node, deep=True)
    else: v = loader.construct_mapping(node, deep=True)
    return {name: v}
L.add_multi_constructor("!", tag)
print(json.dumps(yaml.load(open(sys.argv[1]), Loader=L)))
)";
  const auto r = run_command("python3 -c " + sh_quote(py) + " " +
                             sh_quote((source_dir() / "deploy/aws/template.yaml").string()));
  if (r.exit_code != 0) return json();
  return json::parse(r.output);
}

TEST(DeployTemplate, HasWhatTheIssueAsksFor) {
  if (!have("python3") || run_command("python3 -c 'import yaml' 2>/dev/null").exit_code != 0) {
    // Without PyYAML, at least the key words must be there.
    const std::string t = read_file(source_dir() / "deploy/aws/template.yaml");
    for (const char* word : {"AWSLambdaSQSQueueExecutionRole", "AWSLambdaVPCAccessExecutionRole",
                             "ReportBatchItemFailures", "RedrivePolicy", "AWS::Lambda::Url", "FunctionUrl",
                             "s3:ObjectCreated:*", "LambdaConfigurations", "${Id}-req-queue", "${Id}-resp-queue"})
      EXPECT_NE(t.find(word), std::string::npos) << word;
    GTEST_SKIP() << "python3 with PyYAML not available: checked key words only";
  }
  const json t = load_template();
  ASSERT_TRUE(t.is_object()) << "deploy/aws/template.yaml does not parse as YAML";
  const json& res = t.at("Resources");
  auto of_type = [&](const std::string& type) {
    std::vector<std::string> names;
    for (auto it = res.begin(); it != res.end(); ++it)
      if (it.value().at("Type") == type) names.push_back(it.key());
    return names;
  };
  auto has_all = [](const json& j, std::initializer_list<const char*> words) {
    const std::string s = j.dump();
    for (const char* w : words)
      if (s.find(w) == std::string::npos) return ::testing::AssertionFailure() << "no " << w << " in " << s;
    return ::testing::AssertionSuccess();
  };

  // Queues: <Id>-req-queue with a dead-letter queue, <Id>-resp-queue.
  std::set<std::string> queue_names;
  for (const auto& q : of_type("AWS::SQS::Queue")) queue_names.insert(res[q]["Properties"]["QueueName"].dump());
  EXPECT_TRUE(queue_names.count(R"({"Fn::Sub":"${Id}-req-queue"})")) << json(queue_names).dump();
  EXPECT_TRUE(queue_names.count(R"({"Fn::Sub":"${Id}-resp-queue"})")) << json(queue_names).dump();
  const json& req = res.at("RequestQueue").at("Properties");
  EXPECT_TRUE(req.at("RedrivePolicy").contains("deadLetterTargetArn"));
  EXPECT_TRUE(req.at("RedrivePolicy").contains("maxReceiveCount"));

  // Visibility timeout >= 6x the recognition timeout for every allowed timeout.
  const json& timeouts = t.at("Parameters").at("RecognitionTimeout").at("AllowedValues");
  ASSERT_FALSE(timeouts.empty());
  EXPECT_EQ(req.at("VisibilityTimeout").dump(),
            R"({"Fn::FindInMap":["RequestQueueVisibility",{"Ref":"RecognitionTimeout"},"Seconds"]})");
  for (const auto& tv : timeouts) {
    const int timeout = tv.is_string() ? std::stoi(tv.get<std::string>()) : tv.get<int>();
    const int vis = t.at("Mappings").at("RequestQueueVisibility").at(std::to_string(timeout)).at("Seconds");
    EXPECT_GE(vis, 6 * timeout) << "timeout " << timeout;
    EXPECT_LE(vis, 43200);  // SQS's maximum
  }

  // Functions: one image, the handler chosen by ImageConfig.Command.
  std::set<std::string> commands;
  for (const auto& f : of_type("AWS::Lambda::Function")) {
    const json& p = res[f]["Properties"];
    EXPECT_EQ(p.at("PackageType"), "Image") << f;
    EXPECT_EQ(p.at("Code").at("ImageUri"), json({{"Ref", "ImageUri"}})) << f;
    commands.insert(p.at("ImageConfig").at("Command").at(0).get<std::string>());
  }
  EXPECT_EQ(commands, (std::set<std::string>{"face-detection", "face-recognition", "video-recognition"}));
  EXPECT_EQ(t["Parameters"]["DetectionFunctionName"]["Default"], "face-detection");
  EXPECT_EQ(t["Parameters"]["RecognitionFunctionName"]["Default"], "face-recognition");

  // Roles: both managed policies on each; the inline policies allow only what each function writes.
  const auto roles = of_type("AWS::IAM::Role");
  EXPECT_EQ(roles.size(), 3u);
  for (const auto& r : roles)
    EXPECT_TRUE(has_all(res[r]["Properties"]["ManagedPolicyArns"],
                        {"policy/service-role/AWSLambdaSQSQueueExecutionRole",
                         "policy/service-role/AWSLambdaVPCAccessExecutionRole"}))
        << r;
  auto inline_actions = [&](const std::string& role) {
    std::set<std::string> actions;
    for (const auto& pol : res.at(role).at("Properties").at("Policies"))
      for (const auto& st : pol.at("PolicyDocument").at("Statement")) {
        EXPECT_EQ(st.at("Effect"), "Allow");
        EXPECT_NE(st.at("Resource").dump(), "\"*\"") << role << ": no wildcard resources";
        actions.insert(st.at("Action").get<std::string>());
      }
    return actions;
  };
  EXPECT_EQ(inline_actions("DetectionRole"), (std::set<std::string>{"sqs:SendMessage"}));
  EXPECT_EQ(inline_actions("RecognitionRole"), (std::set<std::string>{"sqs:SendMessage"}));
  EXPECT_EQ(inline_actions("VideoRole"),
            (std::set<std::string>{"s3:GetObject", "dynamodb:GetItem", "sqs:SendMessage"}));
  EXPECT_TRUE(has_all(res["DetectionRole"]["Properties"]["Policies"], {"RequestQueue.Arn"}));
  EXPECT_TRUE(has_all(res["RecognitionRole"]["Properties"]["Policies"], {"ResponseQueue.Arn"}));

  // Function URL (+ the public permissions) and the SQS trigger with partial batch responses.
  ASSERT_EQ(of_type("AWS::Lambda::Url").size(), 1u);
  EXPECT_TRUE(has_all(res[of_type("AWS::Lambda::Url")[0]], {"DetectionFunction.Arn", "FunctionUrlAuthType"}));
  EXPECT_TRUE(has_all(res, {"lambda:InvokeFunctionUrl"}));
  const auto esms = of_type("AWS::Lambda::EventSourceMapping");
  ASSERT_EQ(esms.size(), 1u);
  const json& esm = res[esms[0]]["Properties"];
  EXPECT_EQ(esm.at("FunctionResponseTypes"), json({"ReportBatchItemFailures"}));
  EXPECT_EQ(esm.at("EventSourceArn"), json({{"Fn::GetAtt", "RequestQueue.Arn"}}));
  EXPECT_TRUE(esm.contains("BatchSize"));
  EXPECT_TRUE(esm.contains("MaximumBatchingWindowInSeconds"));

  // Video variant: bucket notification for .mp4 uploads, S3's invoke permission first, the people table.
  const json& bucket = res.at("ClipsBucket");
  EXPECT_EQ(bucket.at("DependsOn"), "VideoS3Permission");
  const json& lc = bucket.at("Properties").at("NotificationConfiguration").at("LambdaConfigurations").at(0);
  EXPECT_EQ(lc.at("Event"), "s3:ObjectCreated:*");
  EXPECT_EQ(lc.at("Filter").dump(), R"({"S3Key":{"Rules":[{"Name":"suffix","Value":".mp4"}]}})");
  EXPECT_EQ(lc.at("Function"), json({{"Fn::GetAtt", "VideoFunction.Arn"}}));
  EXPECT_EQ(res.at("VideoS3Permission").at("Properties").at("Principal"), "s3.amazonaws.com");
  const json& table = res.at("PeopleTable").at("Properties");
  EXPECT_EQ(table.at("BillingMode"), "PAY_PER_REQUEST");
  EXPECT_EQ(table.at("KeySchema").dump(), R"([{"AttributeName":"name","KeyType":"HASH"}])");
  EXPECT_EQ(table.at("AttributeDefinitions").dump(), R"([{"AttributeName":"name","AttributeType":"S"}])");
  for (const char* r : {"PeopleTable", "VideoFunction", "ClipsBucket", "VideoS3Permission", "VideoRole"})
    EXPECT_EQ(res.at(r).value("Condition", ""), "Video") << r;

  // The course's grading user and the outputs the client needs.
  EXPECT_TRUE(has_all(res.at("GradingIamUser"), {"IAMReadOnlyAccess", "AmazonSQSFullAccess",
                                                 "AWSLambdaSQSQueueExecutionRole", "AWSLambda_ReadOnlyAccess"}));
  for (const char* o : {"FunctionUrl", "RequestQueueUrl", "ResponseQueueUrl", "ClipsBucket", "PeopleTable"})
    EXPECT_TRUE(t.at("Outputs").contains(o)) << o;
}

// ------------------------------------------------------------------------------------------------ Dockerfile

TEST(DeployDockerfile, MultiStageSlimRuntimeWithTheLambdaEntrypoint) {
  const std::string d = read_file(source_dir() / "deploy/aws/Dockerfile");
  for (const char* s : {"FROM debian:12 AS build", "scripts/deps.sh", "--target facepipe",
                        "FROM debian:12-slim", "--no-install-recommends",
                        "ENTRYPOINT [\"/opt/facepipe/bin/facepipe\", \"lambda\"]", "CMD [\"face-detection\"]",
                        "FACEPIPE_MODELS=/opt/facepipe/models", "FACEPIPE_GALLERY=/opt/facepipe/gallery.db",
                        "GOMP_SPINCOUNT=3000", "deploy/aws/context/models", "deploy/aws/context/gallery.db"})
    EXPECT_NE(d.find(s), std::string::npos) << s;
  // The allowlist lets in exactly what the Dockerfile copies.
  const std::string ignore = read_file(source_dir() / "deploy/aws/Dockerfile.dockerignore");
  EXPECT_NE(ignore.find("\n*\n"), std::string::npos);
  for (const char* s : {"!src", "!CMakeLists.txt", "!tests/testutil", "!scripts/deps.sh", "!deploy/aws/context/models"})
    EXPECT_NE(ignore.find(s), std::string::npos) << s;
}

// Every shared library the built binary links (NEEDED) comes from a package the runtime stage installs, or
// from the base image (libc6, libstdc++6, libgcc-s1): a new dependency of src/ must reach the Dockerfile.
TEST(DeployDockerfile, RuntimePackagesCoverTheBinarysLibraries) {
  const fs::path bin = facepipe_binary();
  if (!fs::exists(bin)) GTEST_SKIP() << bin << " is not built (scripts/build.sh)";
  if (!have("readelf") || !have("dpkg")) GTEST_SKIP() << "needs readelf and dpkg (a Debian build machine)";
  const std::string d = read_file(source_dir() / "deploy/aws/Dockerfile");
  const std::string runtime = d.substr(d.find("FROM debian:12-slim"));
  const auto needed =
      run_command("readelf -d " + sh_quote(bin.string()) + " | sed -n 's/.*Shared library: \\[\\(.*\\)\\]/\\1/p'");
  ASSERT_EQ(needed.exit_code, 0);
  std::istringstream libs(needed.output);
  std::string lib;
  int checked = 0;
  while (std::getline(libs, lib)) {
    if (lib.empty()) continue;
    // The package that owns the library in the multiarch directory the build used.
    const auto owner = run_command("dpkg -S " + sh_quote("*/" + lib) +
                                   " 2>/dev/null | grep -v i386 | head -n1 | cut -d: -f1");
    std::string pkg = owner.output.substr(0, owner.output.find('\n'));
    ASSERT_FALSE(pkg.empty()) << "no package owns " << lib;
    ++checked;
    if (pkg == "libc6" || pkg == "libstdc++6" || pkg == "libgcc-s1") continue;
    EXPECT_NE(runtime.find(" " + pkg + " "), std::string::npos) << lib << " comes from " << pkg
                                                                << ", which the runtime stage does not install";
  }
  EXPECT_GT(checked, 5);
}

// ------------------------------------------------------------------------------------------------ the script

TEST(DeployScript, DryRunPrintsEveryCommandAndRunsNothing) {
  TempDir tmp;
  // `aws` and `docker` that leave a mark if started: a dry run must start neither (and needs neither).
  for (const char* tool : {"aws", "docker"})
    write_file(tmp.path / "bin" / tool, "#!/bin/sh\ntouch \"" + (tmp.path / "ran").string() + "\"\nexit 1\n", true);
  const fs::path gallery = fake_gallery(tmp.path, "faceapi-resnet34/150", "some.db");
  const std::string env = "PATH=" + sh_quote((tmp.path / "bin").string()) + ":\"$PATH\" AWS_REGION= AWS_DEFAULT_REGION= ";
  const auto r = run_command(env + script() + " --dry-run --id t1 --region us-east-1 --tag v1 --gallery " +
                             sh_quote(gallery.string()) + " --param DetectionMemorySize=2048 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(tmp.path / "ran")) << "the dry run started aws or docker";
  const std::string& o = r.output;
  const std::string uri = "ACCOUNT_ID.dkr.ecr.us-east-1.amazonaws.com/facepipe-t1:v1";
  const size_t stage = find_or_fail(o, "+ mkdir -p deploy/aws/context/models/mtcnn deploy/aws/context/models/faceapi");
  const size_t ecr = find_or_fail(o, "+ aws ecr describe-repositories --region us-east-1 --repository-names facepipe-t1 || "
                                     "aws ecr create-repository --region us-east-1 --repository-name facepipe-t1");
  const size_t login = find_or_fail(o, "+ aws ecr get-login-password --region us-east-1 | docker login --username AWS "
                                       "--password-stdin ACCOUNT_ID.dkr.ecr.us-east-1.amazonaws.com");
  const size_t build = find_or_fail(o, "docker build --platform linux/amd64 --provenance=false -f deploy/aws/Dockerfile "
                                       "-t facepipe-lambda:v1 .");
  const size_t tag = find_or_fail(o, "+ docker tag facepipe-lambda:v1 " + uri);
  const size_t push = find_or_fail(o, "+ docker push " + uri);
  const size_t deploy = find_or_fail(
      o, "+ aws cloudformation deploy --region us-east-1 --stack-name facepipe-t1 --template-file "
         "deploy/aws/template.yaml --capabilities CAPABILITY_NAMED_IAM --no-fail-on-empty-changeset "
         "--parameter-overrides Id=t1 ImageUri=" + uri + " EnableVideo=true CreateGradingUser=false DetectionMemorySize=2048");
  const size_t outputs = find_or_fail(o, "OutputKey=='\\''FunctionUrl'\\''");
  EXPECT_LT(stage, ecr);
  EXPECT_LT(ecr, login);
  EXPECT_LT(login, build);
  EXPECT_LT(build, tag);
  EXPECT_LT(tag, push);
  EXPECT_LT(push, deploy);
  EXPECT_LT(deploy, outputs);
  find_or_fail(o, "Function URL:");
  find_or_fail(o, "Response queue URL:");
  // Every line of the plan is a printed command, a comment or a result line.
  EXPECT_EQ(o.find("\n+ \n"), std::string::npos);

  // --no-video, --grading-user and --stack-name reach the parameters.
  const auto nv = run_command(env + script() + " --dry-run --id t1 --region us-east-1 --tag v1 --stack-name s1 "
                                           "--no-video --grading-user --gallery " + sh_quote(gallery.string()) + " 2>/dev/null");
  ASSERT_EQ(nv.exit_code, 0) << nv.output;
  find_or_fail(nv.output, "--stack-name s1 --template-file deploy/aws/template.yaml");
  find_or_fail(nv.output, "EnableVideo=false CreateGradingUser=true");
  EXPECT_EQ(nv.output.find("Clips bucket"), std::string::npos);

  // The cleanup path.
  const auto del = run_command(env + script() + " --dry-run --id t1 --region us-east-1 --delete 2>/dev/null");
  ASSERT_EQ(del.exit_code, 0) << del.output;
  const size_t rm = find_or_fail(del.output, "+ aws s3 rm s3://t1-clips-ACCOUNT_ID-us-east-1 --recursive");
  const size_t ds = find_or_fail(del.output, "+ aws cloudformation delete-stack --region us-east-1 --stack-name facepipe-t1");
  const size_t wait = find_or_fail(del.output, "+ aws cloudformation wait stack-delete-complete");
  const size_t repo = find_or_fail(del.output, "+ aws ecr delete-repository --region us-east-1 --repository-name facepipe-t1 --force");
  EXPECT_LT(rm, ds);
  EXPECT_LT(ds, wait);
  EXPECT_LT(wait, repo);
  EXPECT_EQ(del.output.find("deleted stack"), std::string::npos) << "a dry run deleted nothing:\n"
                                                                 << del.output;
  find_or_fail(del.output, "would delete stack facepipe-t1");
  EXPECT_FALSE(fs::exists(tmp.path / "ran"));
}

TEST(DeployScript, BadInputFailsWithAMessage) {
  TempDir tmp;
  const fs::path gallery = tmp.path / "g.db";
  write_file(gallery, "gallery");
  struct Case {
    std::string args, message;
  };
  for (const Case& c : std::vector<Case>{
           {"--bogus", "unknown option '--bogus'"},
           {"--dry-run --id", "option --id needs a value"},
           {"--dry-run --id Not_Valid --gallery " + gallery.string(), "--id 'Not_Valid'"},
           {"--dry-run --id t1", "--gallery PATH is required"},
           {"--dry-run --id t1 --gallery " + (tmp.path / "missing.db").string(), "not found"},
           {"--dry-run --id t1 --gallery " + gallery.string() + " --param oops", "--param takes KEY=VALUE"},
           {"--dry-run --id t1 --gallery " + gallery.string() + " --no-video --people " + gallery.string(),
            "drop --no-video"},
       }) {
    const auto r = run_command(script() + " " + c.args, /*merge_stderr=*/true);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << " printed:\n" << r.output;
  }
  const auto help = run_command(script() + " --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--dry-run"), std::string::npos);
}

// A "real" run against stub aws/docker commands: the calls, their order and their arguments.
TEST(DeployScript, DeploysThroughTheAwsCliAndDocker) {
  TempDir tmp;
  const fs::path deploy = copy_checkout(tmp.path / "checkout");
  write_stubs(tmp.path / "bin");
  const fs::path models = fake_models(tmp.path);
  const fs::path gallery = fake_gallery(tmp.path);
  const fs::path people = tmp.path / "people.csv";
  write_file(people, "name,major,year\nAlice Smith,Physics,2\r\nBob,\"C\\S\",3");  // CRLF and no final newline
  const fs::path log = tmp.path / "calls.log";
  const std::string env =
      "STUB_LOG=" + sh_quote(log.string()) + " PATH=" + sh_quote((tmp.path / "bin").string()) +
      ":\"$PATH\" AWS_REGION= AWS_DEFAULT_REGION= FACEPIPE_BIN=" + sh_quote(facepipe_binary().string()) + " ";
  const auto r = run_command(env + deploy.string() + " --id t1 --region us-east-1 --tag v1 --models " +
                                 sh_quote(models.string()) + " --gallery " + sh_quote(gallery.string()) +
                                 " --people " + sh_quote(people.string()),
                             /*merge_stderr=*/true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string calls = read_file(log);
  const std::string uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/facepipe-t1:v1";
  std::vector<size_t> order = {
      find_or_fail(calls, "aws sts get-caller-identity"),
      find_or_fail(calls, "aws ecr describe-repositories --region us-east-1 --repository-names facepipe-t1"),
      find_or_fail(calls, "aws ecr create-repository --region us-east-1 --repository-name facepipe-t1"),
      find_or_fail(calls, "aws ecr put-lifecycle-policy"),
      find_or_fail(calls,
                   "docker login --username AWS --password-stdin "
                   "123456789012.dkr.ecr.us-east-1.amazonaws.com <<< stub-password"),
      find_or_fail(calls,
                   "docker build --platform linux/amd64 --provenance=false -f deploy/aws/Dockerfile -t "
                   "facepipe-lambda:v1 ."),
      find_or_fail(calls, "docker tag facepipe-lambda:v1 " + uri),
      find_or_fail(calls, "docker push " + uri),
      find_or_fail(
          calls,
          "aws cloudformation deploy --region us-east-1 --stack-name facepipe-t1 --template-file "
          "deploy/aws/template.yaml --capabilities CAPABILITY_NAMED_IAM --no-fail-on-empty-changeset "
          "--parameter-overrides Id=t1 ImageUri=" +
              uri + " EnableVideo=true CreateGradingUser=false"),
      // Read as `facepipe people import` reads it: quotes unwrapped, numbers stay numbers.
      find_or_fail(
          calls,
          R"(aws dynamodb put-item --region us-east-1 --table-name t1-people --item {"major":{"S":"Physics"},"name":{"S":"Alice Smith"},"year":{"N":"2"}})"),
      find_or_fail(calls, R"(--item {"major":{"S":"C\\S"},"name":{"S":"Bob"},"year":{"N":"3"}})"),
  };
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << calls;
  find_or_fail(r.output, "Function URL:       https://stuburl.lambda-url.us-east-1.on.aws/");
  find_or_fail(r.output, "Response queue URL: https://sqs.us-east-1.amazonaws.com/123456789012/t1-resp-queue");
  // The build context: the models laid out as scripts/models.sh does, and the gallery.
  const fs::path ctx = tmp.path / "checkout/deploy/aws/context";
  for (const char* f : {"models/mtcnn/pnet.pt", "models/mtcnn/rnet.pt", "models/mtcnn/onet.pt",
                        "models/faceapi/face_recognition_model-weights_manifest.json",
                        "models/faceapi/face_recognition_model.bin", "gallery.db"})
    EXPECT_TRUE(fs::exists(ctx / f)) << f;
  EXPECT_FALSE(fs::exists(ctx / "models/inception_resnet_v1")) << "no VGGFace2 weights were given";

  // A stack left in ROLLBACK_COMPLETE cannot be updated: say so, and how to get out of it.
  const auto rb = run_command("STUB_STACK_STATUS=ROLLBACK_COMPLETE " + env + deploy.string() +
                                  " --id t1 --region us-east-1 --models " + sh_quote(models.string()) +
                                  " --gallery " + sh_quote(gallery.string()),
                              /*merge_stderr=*/true);
  EXPECT_NE(rb.exit_code, 0);
  EXPECT_NE(rb.output.find("ROLLBACK_COMPLETE"), std::string::npos) << rb.output;
  EXPECT_NE(rb.output.find("--delete"), std::string::npos) << rb.output;

  // Cleaning up.
  fs::remove(log);
  const auto del = run_command(env + deploy.string() + " --id t1 --region us-east-1 --delete --yes", true);
  ASSERT_EQ(del.exit_code, 0) << del.output;
  const std::string dcalls = read_file(log);
  std::vector<size_t> dorder = {
      find_or_fail(dcalls, "aws s3 rm s3://t1-clips-123456789012-us-east-1 --recursive --region us-east-1"),
      find_or_fail(dcalls, "aws cloudformation delete-stack --region us-east-1 --stack-name facepipe-t1"),
      find_or_fail(dcalls, "aws cloudformation wait stack-delete-complete --region us-east-1 --stack-name facepipe-t1"),
      find_or_fail(dcalls, "aws ecr delete-repository --region us-east-1 --repository-name facepipe-t1 --force"),
  };
  EXPECT_TRUE(std::is_sorted(dorder.begin(), dorder.end())) << dcalls;
  EXPECT_EQ(dcalls.find("docker"), std::string::npos) << "--delete needs no docker";
}

// What a new user trips over (issue 16): relative paths, a dry run that skipped the gallery checks, --delete
// without asking, no way to see the URLs again, no --profile.
TEST(DeployScript, ChecksPathsGalleriesAndConfirmations) {
  TempDir tmp;
  const fs::path deploy = copy_checkout(tmp.path / "checkout");
  write_stubs(tmp.path / "bin");
  const fs::path models = fake_models(tmp.path);
  fake_gallery(tmp.path);
  const fs::path log = tmp.path / "calls.log";
  const std::string env = "STUB_LOG=" + sh_quote(log.string()) +
                          " PATH=" + sh_quote((tmp.path / "bin").string()) +
                          ":\"$PATH\" AWS_REGION= AWS_DEFAULT_REGION= AWS_PROFILE= ";
  const std::string base = " --id t1 --region us-east-1 --models " + sh_quote(models.string());

  // A relative --gallery is the caller's, not the checkout's.
  auto r = run_command("cd " + sh_quote(tmp.path.string()) + " && " + env + deploy.string() + " --dry-run" +
                           base + " --gallery gallery.db",
                       true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  find_or_fail(r.output, (tmp.path / "gallery.db").string());

  // The dry run checks the gallery as a real deploy does.
  write_file(tmp.path / "text.db", "not a database");
  fake_gallery(tmp.path, "irv1-vggface2/box240", "vgg.db");
  fake_gallery(tmp.path, "irv1-random/box160", "random.db");
  for (const auto& [file, message] :
       std::vector<std::pair<std::string, std::string>>{{"text.db", "is not a facepipe gallery database"},
                                                        {"vgg.db", "VGGFace2"},
                                                        {"random.db", "random-weight"}}) {
    r = run_command(
        env + deploy.string() + " --dry-run" + base + " --gallery " + sh_quote((tmp.path / file).string()),
        true);
    EXPECT_NE(r.exit_code, 0) << file << ":\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << file << ":\n" << r.output;
  }

  // --delete asks first: a wrong answer (or none) deletes nothing; the stack's name, or --yes, goes ahead.
  for (const std::string answer : {"echo wrong |", "true |"}) {
    fs::remove(log);
    r = run_command(answer + " " + env + deploy.string() + base + " --delete", true);
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("--yes"), std::string::npos) << r.output;
    EXPECT_EQ(read_file(log).find("delete-stack"), std::string::npos) << "deleted without confirmation";
  }
  r = run_command("echo facepipe-t1 | " + env + deploy.string() + base + " --delete", true);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(read_file(log).find("delete-stack"), std::string::npos);

  // --outputs prints the URLs again (no docker, nothing deployed); --profile reaches every aws call.
  fs::remove(log);
  r = run_command(env + deploy.string() + base + " --outputs --profile course", true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  find_or_fail(r.output, "Function URL:       https://stuburl.lambda-url.us-east-1.on.aws/");
  find_or_fail(r.output,
               "Response queue URL: https://sqs.us-east-1.amazonaws.com/123456789012/t1-resp-queue");
  const std::string calls = read_file(log);
  EXPECT_EQ(calls.find("docker"), std::string::npos) << calls;
  EXPECT_EQ(calls.find("cloudformation deploy"), std::string::npos) << calls;
  std::istringstream lines(calls);
  int aws_calls = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("aws ", 0) != 0) continue;
    ++aws_calls;
    EXPECT_NE(line.find("[profile course]"), std::string::npos) << line;
  }
  EXPECT_GT(aws_calls, 2);
}

TEST(DeployScript, MissingToolsOrCredentialsSayWhatToDo) {
  TempDir tmp;
  const fs::path deploy = copy_checkout(tmp.path / "checkout");
  const fs::path models = fake_models(tmp.path);
  const fs::path gallery = fake_gallery(tmp.path);
  const std::string args = " --id t1 --region us-east-1 --models " + sh_quote(models.string()) + " --gallery " +
                           sh_quote(gallery.string());
  // A PATH with the script's ordinary tools but neither aws nor docker.
  const fs::path tools = tmp.path / "tools";
  fs::create_directories(tools);
  for (const char* t : {"bash", "env", "dirname", "cat", "head", "tr", "grep", "date", "git", "rm", "mkdir", "cp"}) {
    const auto where = run_command(std::string("command -v ") + t);
    if (where.exit_code == 0) fs::create_symlink(where.output.substr(0, where.output.find('\n')), tools / t);
  }
  auto r = run_command("PATH=" + sh_quote(tools.string()) + " " + deploy.string() + args, true);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("aws CLI not found: install awscli"), std::string::npos) << r.output;

  write_stubs(tmp.path / "bin");
  const std::string env = "STUB_LOG=" + sh_quote((tmp.path / "log").string()) + " PATH=" +
                          sh_quote((tmp.path / "bin").string()) + ":\"$PATH\" ";
  r = run_command("STUB_NO_DAEMON=1 " + env + deploy.string() + args, true);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("Docker daemon is not reachable"), std::string::npos) << r.output;
  r = run_command("STUB_NO_CREDENTIALS=1 " + env + deploy.string() + args, true);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("no AWS credentials: run aws configure"), std::string::npos) << r.output;
  const std::string calls = read_file(tmp.path / "log");
  EXPECT_EQ(calls.find("docker build"), std::string::npos) << "nothing is built before the checks pass";
}

}  // namespace
}  // namespace facepipe::testing
