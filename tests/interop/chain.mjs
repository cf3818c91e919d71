// Chain chores for run-reference.sh, with viem on a local RPC. Each command prints one JSON line.
//
//   node chain.mjs new-key                               -> {"key":"0x…","address":"0x…"}   (fresh random account)
//   node chain.mjs deploy-token <MockUSDCProxy artifact.json> -> {"token":"0x…","name":"…","deployTx":"0x…"}
//        env DEPLOYER_KEY, TOKEN_NAME (default "USDC"); checks the token's name/version/decimals/DOMAIN_SEPARATOR
//   node chain.mjs multicall3                            -> {"multicall3":"0xcA11…","codeHash":"0x…"}   env DEPLOYER_KEY
//        puts Multicall3 at its canonical address, as on Base: the reference facilitator diagnoses a failed
//        simulation (insufficient balance, nonce used, wrong name/version) through it, and without it answers
//        every such case with invalid_exact_evm_transaction_simulation_failed
//   node chain.mjs mint <token> <to> <amount>            -> {"tx":"0x…"}   env DEPLOYER_KEY
//   node chain.mjs balance <token> <address>             -> {"balance":"…"}
//   node chain.mjs check <pay-output.json>               -> the verdict; exit 1 if any assertion fails
//        env TOKEN_ADDRESS, AGENT, PAY_TO, PRICE, AGENT_BEFORE, PAY_TO_BEFORE, NETWORK, EXPECTED_BODY (JSON: the
//        whole body), or EXPECTED_BODY_SUBSET (JSON: fields the body must have with these values),
//        EXPECTED_STATUS (default 200) and PAYER_EARLIER_TRANSFERS (default 0: how many Transfers out of the payer
//        the chain held before this payment; the check wants exactly one more)
//
// All commands need RPC_URL (loopback) and CHAIN_ID.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import {
  createPublicClient,
  createWalletClient,
  decodeEventLog,
  defineChain,
  encodeAbiParameters,
  getAddress,
  http,
  isAddressEqual,
  keccak256,
  parseAbi,
  parseAbiItem,
  toHex,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { emit, env, fail, intEnv, keyEnv, loopbackUrlEnv, requireEnv } from "./lib.mjs";

const erc20 = parseAbi([
  "function balanceOf(address) view returns (uint256)",
  "function mint(address to, uint256 value)",
  "function name() view returns (string)",
  "function version() view returns (string)",
  "function decimals() view returns (uint8)",
  "function DOMAIN_SEPARATOR() view returns (bytes32)",
]);
const transferEvent = parseAbiItem("event Transfer(address indexed from, address indexed to, uint256 value)");
const authorizationUsedEvent = parseAbiItem("event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)");

const [command, ...args] = process.argv.slice(2);

if (command === "new-key") {
  const key = generatePrivateKey();
  emit({ key, address: privateKeyToAccount(key).address });
  process.exit(0);
}

const rpcUrl = loopbackUrlEnv("RPC_URL");
const chainId = intEnv("CHAIN_ID");
const chain = defineChain({
  id: chainId,
  name: `local-${chainId}`,
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [rpcUrl] } },
});
const transport = http(rpcUrl, { timeout: 10_000, retryCount: 0 });
const publicClient = createPublicClient({ chain, transport });
const wallet = () => createWalletClient({ account: privateKeyToAccount(keyEnv("DEPLOYER_KEY")), chain, transport });
const receiptOf = (hash) => publicClient.waitForTransactionReceipt({ hash, timeout: 30_000 });
const balanceOf = (token, who) =>
  publicClient.readContract({ address: getAddress(token), abi: erc20, functionName: "balanceOf", args: [getAddress(who)] });

async function deployToken(artifactPath) {
  const artifact = JSON.parse(readFileSync(artifactPath, "utf8"));
  const name = env("TOKEN_NAME", "USDC");
  const hash = await wallet().deployContract({ abi: artifact.abi, bytecode: artifact.bytecode.object, args: [name] });
  const receipt = await receiptOf(hash);
  if (receipt.status !== "success" || !receipt.contractAddress) fail(`MockUSDC deployment failed: ${hash}`, 1);
  const token = receipt.contractAddress;
  const read = (functionName) => publicClient.readContract({ address: token, abi: erc20, functionName });
  const [onChainName, version, decimals, separator] = await Promise.all(
    ["name", "version", "decimals", "DOMAIN_SEPARATOR"].map(read),
  );
  const expectedSeparator = keccak256(
    encodeAbiParameters(
      [{ type: "bytes32" }, { type: "bytes32" }, { type: "bytes32" }, { type: "uint256" }, { type: "address" }],
      [
        keccak256(toHex("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")),
        keccak256(toHex(onChainName)),
        keccak256(toHex(version)),
        BigInt(chainId),
        token,
      ],
    ),
  );
  if (onChainName !== name || version !== "2" || decimals !== 6 || separator !== expectedSeparator) {
    fail(`unexpected token: name=${onChainName} version=${version} decimals=${decimals} separator=${separator}`, 1);
  }
  emit({ token, name, version, decimals, deployTx: hash });
}

// Multicall3's canonical address on every chain that has it (Base and Base Sepolia included).
const MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11";

// viem ships Multicall3's creation code (for its deployless multicall) but does not export it: read it from the
// pinned viem's own module, deploy it once anywhere to obtain the runtime code, then place that code at MULTICALL3.
async function multicall3() {
  const viemDir = dirname(createRequire(import.meta.url).resolve("viem/package.json"));
  const source = readFileSync(join(viemDir, "_esm", "constants", "contracts.js"), "utf8");
  const creation = source.match(/export const multicall3Bytecode = '(0x[0-9a-fA-F]+)'/)?.[1];
  if (!creation) fail(`no multicall3Bytecode in ${viemDir}/_esm/constants/contracts.js`, 1);
  const hash = await wallet().sendTransaction({ data: creation });
  const receipt = await receiptOf(hash);
  if (receipt.status !== "success" || !receipt.contractAddress) fail(`Multicall3 deployment failed: ${hash}`, 1);
  const runtime = await publicClient.getCode({ address: receipt.contractAddress });
  await publicClient.request({ method: "anvil_setCode", params: [MULTICALL3, runtime] });
  const placed = await publicClient.getCode({ address: MULTICALL3 });
  if (placed !== runtime) fail("anvil_setCode did not take", 1);
  emit({ multicall3: MULTICALL3, codeHash: keccak256(placed) });
}

async function mint(token, to, amount) {
  const hash = await wallet().writeContract({
    address: getAddress(token),
    abi: erc20,
    functionName: "mint",
    args: [getAddress(to), BigInt(amount)],
  });
  const receipt = await receiptOf(hash);
  if (receipt.status !== "success") fail(`mint reverted: ${hash}`, 1);
  emit({ tx: hash });
}

// The assertions of the interop run: the resource came back, the payer paid exactly PRICE exactly once, the payee
// got it, and the payment response names a mined transaction that did precisely that transfer.
async function check(outputPath) {
  const token = getAddress(requireEnv("TOKEN_ADDRESS"));
  const agent = getAddress(requireEnv("AGENT"));
  const payTo = getAddress(requireEnv("PAY_TO"));
  const price = BigInt(requireEnv("PRICE"));
  const agentBefore = BigInt(requireEnv("AGENT_BEFORE"));
  const payToBefore = BigInt(requireEnv("PAY_TO_BEFORE"));
  const network = requireEnv("NETWORK");
  const subset = env("EXPECTED_BODY_SUBSET", undefined);
  const expectedBody = subset === undefined ? JSON.parse(requireEnv("EXPECTED_BODY")) : undefined;
  const expectedSubset = subset === undefined ? undefined : JSON.parse(subset);
  const expectedStatus = intEnv("EXPECTED_STATUS", 200);
  const earlierTransfers = intEnv("PAYER_EARLIER_TRANSFERS", 0);

  const failures = [];
  const expect = (ok, message) => ok || failures.push(message);

  let output;
  try {
    const lines = readFileSync(outputPath, "utf8").trim().split("\n");
    output = JSON.parse(lines[lines.length - 1]);
  } catch (error) {
    fail(`no JSON line from the payer in ${outputPath}: ${error.message}`, 1);
  }
  expect(output.status === expectedStatus, `HTTP status ${output.status}, expected ${expectedStatus}`);
  if (expectedSubset === undefined) {
    expect(JSON.stringify(output.body) === JSON.stringify(expectedBody), `body ${JSON.stringify(output.body)}`);
  } else {
    for (const [key, value] of Object.entries(expectedSubset)) {
      const got = output.body?.[key];
      expect(JSON.stringify(got) === JSON.stringify(value), `body ${key} ${JSON.stringify(got)}, expected ${JSON.stringify(value)}`);
    }
  }

  const pr = output.paymentResponse ?? {};
  expect(pr.success === true, `payment response success=${pr.success} (${pr.errorReason ?? "no reason"})`);
  expect(pr.network === network, `payment response network ${pr.network}, expected ${network}`);
  expect(typeof pr.payer === "string" && isAddressEqual(pr.payer, agent), `payment response payer ${pr.payer}`);
  const txOk = typeof pr.transaction === "string" && /^0x[0-9a-fA-F]{64}$/.test(pr.transaction);
  expect(txOk, `payment response transaction ${pr.transaction} is not a transaction hash`);

  const [agentAfter, payToAfter] = await Promise.all([balanceOf(token, agent), balanceOf(token, payTo)]);
  expect(agentBefore - agentAfter === price, `payer balance ${agentBefore} -> ${agentAfter}, expected -${price}`);
  expect(payToAfter - payToBefore === price, `payTo balance ${payToBefore} -> ${payToAfter}, expected +${price}`);

  let receipt = null;
  let transfers = [];
  if (txOk) {
    receipt = await publicClient.getTransactionReceipt({ hash: pr.transaction }).catch(() => null);
    expect(receipt !== null, `transaction ${pr.transaction} is not mined`);
    if (receipt) {
      expect(receipt.status === "success", `transaction ${pr.transaction} reverted`);
      const decoded = receipt.logs
        .filter((l) => isAddressEqual(l.address, token))
        .map((l) => {
          try {
            return decodeEventLog({ abi: [transferEvent, authorizationUsedEvent], data: l.data, topics: l.topics });
          } catch {
            return null;
          }
        })
        .filter(Boolean);
      transfers = decoded.filter((e) => e.eventName === "Transfer").map((e) => e.args);
      expect(
        transfers.length === 1 &&
          isAddressEqual(transfers[0].from, agent) &&
          isAddressEqual(transfers[0].to, payTo) &&
          transfers[0].value === price,
        `transaction ${pr.transaction} transfers ${JSON.stringify(transfers, (_, v) => (typeof v === "bigint" ? v.toString() : v))}`,
      );
      expect(
        decoded.some((e) => e.eventName === "AuthorizationUsed" && isAddressEqual(e.args.authorizer, agent)),
        `transaction ${pr.transaction} emits no AuthorizationUsed for the payer`,
      );
    }
  }
  // Exactly once: over the whole chain, this payment moved the payer's tokens out in a single Transfer.
  const outgoing = await publicClient.getLogs({ address: token, event: transferEvent, args: { from: agent }, fromBlock: 0n });
  expect(
    outgoing.length === earlierTransfers + 1,
    `${outgoing.length} Transfer events out of the payer, expected ${earlierTransfers + 1}`,
  );

  const verdict = {
    ok: failures.length === 0,
    failures,
    price: price.toString(),
    payer: { address: agent, before: agentBefore.toString(), after: agentAfter.toString() },
    payTo: { address: payTo, before: payToBefore.toString(), after: payToAfter.toString() },
    transaction: pr.transaction ?? null,
    blockNumber: receipt?.blockNumber?.toString() ?? null,
    gasUsed: receipt?.gasUsed?.toString() ?? null,
  };
  emit(verdict);
  if (!verdict.ok) process.exit(1);
}

switch (command) {
  case "deploy-token":
    await deployToken(args[0] ?? fail("deploy-token <artifact.json>"));
    break;
  case "multicall3":
    await multicall3();
    break;
  case "mint":
    if (args.length !== 3) fail("mint <token> <to> <amount>");
    await mint(...args);
    break;
  case "balance":
    if (args.length !== 2) fail("balance <token> <address>");
    emit({ balance: (await balanceOf(args[0], args[1])).toString() });
    break;
  case "check":
    await check(args[0] ?? fail("check <pay-output.json>"));
    break;
  default:
    fail(`unknown command ${command}; see the header of chain.mjs`);
}
