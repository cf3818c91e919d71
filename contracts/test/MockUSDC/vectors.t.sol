// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {MockUSDC_Base} from "./Base.t.sol";

/// @notice Pins MockUSDC's EIP-712 digests and signature checks to third-party vectors: viem's typed-data hashes and
///         signatures in /work/shared/vectors/eip3009-x402.json (`eip712` list), copied here verbatim. The chain-31337
///         vectors are checked against a MockUSDC deployed by anvil's default deployer with its first CREATE (the
///         vectors' verifyingContract); the Base and Base Sepolia ones against a MockUSDC constructed at Circle's address.
contract MockUSDC_Vectors_Test is MockUSDC_Base {
    struct Vector {
        string name;
        uint256 chainId;
        address verifyingContract;
        bool isReceive;
        uint256 privateKey;
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        bytes32 digest;
        bytes signature;
    }

    /// @dev anvil's first default account (mnemonic "test test ... junk", index 0).
    address internal constant ANVIL_DEPLOYER = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;
    /// @dev The address of its first CREATE, the vectors' chain-31337 verifyingContract.
    address internal constant ANVIL_FIRST_CREATE = 0x5FbDB2315678afecb367f032d93F642f64180aa3;
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    // ------------------------------------------------------------------ tests

    function test_When_AnvilDeployerFirstCreate_IsTheVectorsVerifyingContract() public {
        // CREATE address = keccak256(rlp([sender, nonce 0]))[12:]
        address computed = address(
            uint160(uint256(keccak256(abi.encodePacked(bytes1(0xd6), bytes1(0x94), ANVIL_DEPLOYER, bytes1(0x80)))))
        );
        assertEq(computed, ANVIL_FIRST_CREATE, "rlp");
        vm.prank(ANVIL_DEPLOYER);
        MockUSDC deployed = MockUSDC(address(new MockUSDCProxy("USDC")));
        assertEq(address(deployed), ANVIL_FIRST_CREATE, "deployed");
    }

    function test_When_Chain31337TransferVector_DigestMatchesAndTokenAccepts() public {
        _checkVector(_anvilTransfer(), Op.TransferBytes);
    }

    function test_When_Chain31337TransferVectorValidAfterZero_VRSOverloadAccepts() public {
        _checkVector(_anvilTransferValidAfterZero(), Op.TransferVRS);
    }

    function test_When_Chain31337ReceiveVector_DigestMatchesAndPayeeReceives() public {
        _checkVector(_anvilReceive(), Op.ReceiveBytes);
    }

    function test_When_Chain31337ReceiveVector_VRSOverloadAccepts() public {
        _checkVector(_anvilReceiveSecond(), Op.ReceiveVRS);
    }

    function test_When_BaseUSDCoinTransferVector_DigestMatchesAndTokenAccepts() public {
        _checkVector(_baseTransfer(), Op.TransferBytes);
    }

    function test_When_BaseUSDCoinReceiveVector_DigestMatchesAndPayeeReceives() public {
        _checkVector(_baseReceive(), Op.ReceiveBytes);
    }

    function test_When_BaseSepoliaReceiveVector_DigestMatchesAndPayeeReceives() public {
        _checkVector(_baseSepoliaReceive(), Op.ReceiveBytes);
    }

    function test_RevertWhen_VectorReplayed() public {
        Vector memory v = _anvilTransfer();
        _checkVector(v, Op.TransferBytes);
        token.mint(v.from, v.value);
        _expectSubmitReverts(Op.TransferBytes, _authOf(v), v.signature, USED_OR_CANCELED);
    }

    function test_RevertWhen_VectorValueTampered() public {
        Vector memory v = _anvilTransfer();
        _deployFor(v);
        token.mint(v.from, v.value);
        Authorization memory auth = _authOf(v);
        auth.value -= 1;
        _expectSubmitReverts(Op.TransferBytes, auth, v.signature, INVALID_SIGNATURE);
    }

    function test_RevertWhen_VectorSubmittedOnAnotherChain() public {
        Vector memory v = _anvilTransfer();
        _deployFor(v);
        token.mint(v.from, v.value);
        vm.chainId(8453);
        _expectSubmitReverts(Op.TransferBytes, _authOf(v), v.signature, INVALID_SIGNATURE);
    }

    function test_RevertWhen_TransferVectorSubmittedAsReceive() public {
        Vector memory v = _anvilTransfer();
        _deployFor(v);
        token.mint(v.from, v.value);
        _expectSubmitReverts(Op.ReceiveBytes, _authOf(v), v.signature, INVALID_SIGNATURE);
    }

    // ------------------------------------------------------------------ helpers

    function _authOf(Vector memory v) internal pure returns (Authorization memory) {
        return Authorization(v.from, v.to, v.value, v.validAfter, v.validBefore, v.nonce);
    }

    /// @dev Points `token` at a MockUSDC named `v.name` at `v.verifyingContract` on chain `v.chainId`.
    function _deployFor(Vector memory v) internal {
        vm.chainId(v.chainId);
        if (v.verifyingContract == ANVIL_FIRST_CREATE) {
            vm.prank(ANVIL_DEPLOYER);
            token = MockUSDC(address(new MockUSDCProxy(v.name)));
        } else {
            // Runs the proxy's creation code at Circle's address, so the token's storage, its own blacklist entry and
            // its domain are all at that address (what forge-std's deployCodeTo does).
            vm.etch(v.verifyingContract, abi.encodePacked(type(MockUSDCProxy).creationCode, abi.encode(v.name)));
            (bool ok, bytes memory runtime) = v.verifyingContract.call("");
            assertTrue(ok, "proxy constructor");
            vm.etch(v.verifyingContract, runtime);
            token = MockUSDC(v.verifyingContract);
        }
        assertEq(address(token), v.verifyingContract, "verifyingContract");
        assertEq(token.name(), v.name, "name");
    }

    /// @dev Checks our digest (by formula and from the token) against the vector, that Foundry's RFC 6979 signer
    ///      reproduces viem's signature byte for byte, and that the token accepts the vector's signature via `op`.
    function _checkVector(Vector memory v, Op op) internal {
        _deployFor(v);
        Authorization memory auth = _authOf(v);
        assertEq(vm.addr(v.privateKey), v.from, "the key is the payer's");

        bytes32 typeHash =
            v.isReceive ? token.RECEIVE_WITH_AUTHORIZATION_TYPEHASH() : token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH();
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256(bytes(v.name)), keccak256("2"), v.chainId, v.verifyingContract)
        );
        bytes32 structHash =
            keccak256(abi.encode(typeHash, v.from, v.to, v.value, v.validAfter, v.validBefore, v.nonce));
        assertEq(keccak256(abi.encodePacked("\x19\x01", domain, structHash)), v.digest, "digest by formula");
        assertEq(token.DOMAIN_SEPARATOR(), domain, "token domain separator");
        assertEq(digestOf(token, typeHash, auth), v.digest, "token digest");
        vm.assertEq(_signDigest(v.privateKey, v.digest), v.signature, "RFC 6979 signature");

        token.mint(v.from, v.value);
        // forge-lint: disable-next-line(block-timestamp)
        assertTrue(block.timestamp > v.validAfter && block.timestamp < v.validBefore, "clock inside the window");
        uint256 toBefore = token.balanceOf(v.to);
        _submit(op, auth, v.signature);
        _assertApplied(op, auth, v.value, toBefore);
    }

    // ------------------------------------------------------------------ vectors (verbatim)

    /// @dev eip3009-x402.json eip712[2]: TransferWithAuthorization, "USDC", chain 31337.
    function _anvilTransfer() internal pure returns (Vector memory) {
        return Vector({
            name: "USDC",
            chainId: 31_337,
            verifyingContract: 0x5FbDB2315678afecb367f032d93F642f64180aa3,
            isReceive: false,
            privateKey: 0xcfe69a455d0202460db35689b24a1c84511c65101c819473dc54b134414530b3,
            from: 0xC42c18402F9BF6D9B1d961c522d974c57FBC627B,
            to: 0xaA9C1354632e0c9E28b79fa599135FaABe5348b0,
            value: 3_054_333_790,
            validAfter: 1_700_011_681,
            validBefore: 1_800_047_505,
            nonce: 0x36f97652c4315250ae883795aee31a7b4225031ca1e9ad5a15d82fc95f21c349,
            digest: 0x8299393249ebf181516367a5a4f1dc69a61a9189e5c3a2caccf59abcab56f523,
            signature: hex"3f6ab5933a48e7845d3dceb1f495cefd584fbbb0f70e650d42eaa115aa2fe7ea4d476028862e70ddecfd7ba5f330f61700fb910ddbfa16b6141045a7d419884a1b"
        });
    }

    /// @dev eip3009-x402.json eip712[5]: TransferWithAuthorization, "USDC", chain 31337.
    function _anvilTransferValidAfterZero() internal pure returns (Vector memory) {
        return Vector({
            name: "USDC",
            chainId: 31_337,
            verifyingContract: 0x5FbDB2315678afecb367f032d93F642f64180aa3,
            isReceive: false,
            privateKey: 0x119fc0c0a6ac384e2a163da50e70ca957c24b6038f48d165a212e0e2b57d2186,
            from: 0xdA66D54737cDD3F3CF1DAee831A715760ee6e380,
            to: 0x24c74c38446C68F41E327Ed1803b439a37F9208D,
            value: 6_929_149_490,
            validAfter: 0,
            validBefore: 1_800_061_581,
            nonce: 0x81968c9a64cab4867dbe3399d2e80583cf4cb701b518e0d2d0cba42992eb9fb8,
            digest: 0xc02676e5263ca1030786a353a40c624ecd3e44c7babcaa354d8d17551f27659f,
            signature: hex"5de63cd0389489de122b54828534a744d207cda1417395a57007103652c4f00d383a4f5262b6193a674f1deb2edcd8072b9867fa6a4b33c3e140ba62775ad0341c"
        });
    }

    /// @dev eip3009-x402.json eip712[11]: ReceiveWithAuthorization, "USDC", chain 31337.
    function _anvilReceive() internal pure returns (Vector memory) {
        return Vector({
            name: "USDC",
            chainId: 31_337,
            verifyingContract: 0x5FbDB2315678afecb367f032d93F642f64180aa3,
            isReceive: true,
            privateKey: 0xc637f3313ccab5cc17fba381d4e12cc677e4a1b5a52c2f36085cf7938b885d59,
            from: 0x8C2Ed8Af994Da356c13F4f5895B40ae08249456c,
            to: 0xeBf2Ec449546D79404212225d342be3d56c084df,
            value: 55_278_631,
            validAfter: 0,
            validBefore: 1_800_013_975,
            nonce: 0xab544250cd8a8cf8720bc163b81f49a833923ab9e92b42939c03f45be3ee849b,
            digest: 0xdbb06c974bc13de9b7a0e2ac5847215fa1074489dd04b20719f6c80114ae7df0,
            signature: hex"bff1298c127b3300923a5b0726ac90985fc935eef5e68c7ac21404754d4fa0fa6c8b531eeba101afe1a3ba23bbb1f38e29495981c555b84cd56ab837642e48851c"
        });
    }

    /// @dev eip3009-x402.json eip712[23]: ReceiveWithAuthorization, "USDC", chain 31337.
    function _anvilReceiveSecond() internal pure returns (Vector memory) {
        return Vector({
            name: "USDC",
            chainId: 31_337,
            verifyingContract: 0x5FbDB2315678afecb367f032d93F642f64180aa3,
            isReceive: true,
            privateKey: 0x50e02c991981b05cded52764f541917fc55a1e33275a17305cc0a88a75d94c82,
            from: 0xbBa872Ff26D849548016CA931217EEE58ABe0C45,
            to: 0xf8818F0d6338dCC2AA56D5Fe3108D524afBC1278,
            value: 1_178_042_400,
            validAfter: 0,
            validBefore: 1_800_039_874,
            nonce: 0xd04b1332ca3d671b7566027b42dda583fca0e9bc66a6fe6b2d2f5ccfbbd38bef,
            digest: 0x2673d964bf18c0ec7c0f50bdcc720a923bc10c5db9ece822222f92a55427e17b,
            signature: hex"a23f7d9b20441ed35097da0f94ae5ff9fdee70ea50d952826c15ad7d69fe358019518325a76393f69311e7b7e092d95e88772bd88579b0cad444564f25b17fd11b"
        });
    }

    /// @dev eip3009-x402.json eip712[0]: TransferWithAuthorization, "USD Coin", chain 8453.
    function _baseTransfer() internal pure returns (Vector memory) {
        return Vector({
            name: "USD Coin",
            chainId: 8453,
            verifyingContract: 0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913,
            isReceive: false,
            privateKey: 0x8674de71ecf99c7097cd59bcf871b7cafd4aaa36af7a47f2a660020606b50a31,
            from: 0x5B14ED61fbb646cEd04971501BcdC68e19384881,
            to: 0x545cad5f0cf552A4B74E70a30724E3cEaa7DaB7F,
            value: 3_755_457_476,
            validAfter: 1_700_016_155,
            validBefore: 1_800_031_517,
            nonce: 0x93a766e18145a173dc5fd3ee405a19bd69cac066f01d037965e61ae2aa2d21d1,
            digest: 0x43b67b6f5499e3e75d0d3f097552d21671e278e2dfe51df6dd52a9702ae80ff5,
            signature: hex"9dcac852855b9268eff924ff0e7992096c0d3e0b7d691385fbde12b5e4e4dc024965c72f3c54c7634687958127a93f1c68dac486d1c4638ed86b4623bf664cd01c"
        });
    }

    /// @dev eip3009-x402.json eip712[3]: ReceiveWithAuthorization, "USD Coin", chain 8453.
    function _baseReceive() internal pure returns (Vector memory) {
        return Vector({
            name: "USD Coin",
            chainId: 8453,
            verifyingContract: 0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913,
            isReceive: true,
            privateKey: 0x25586c895d8f61330ab858fe6bfac1cc2cb20ea722fc100ba98e5dce806a6395,
            from: 0xe97AD907cb45a3bC619db0A5745b3149D0f3169a,
            to: 0x9Dc25bA279199868c0584B28A12da13B64Bf5937,
            value: 7_102_647_075,
            validAfter: 0,
            validBefore: 1_800_029_011,
            nonce: 0x5abb56dfa8728c1d63e3b265aedb1accd606f167dea08d4aa8744935df3262f6,
            digest: 0xa9f87f33240c17fa08c0031553d75e28d7128ed27b29a581d1470577442d237a,
            signature: hex"8db53b5d30a6daf9eabec464f687ed235ef3fabbde48cb8de18c378b62e1aebb7018a39e18a73fb39a57cc7bb212216df077530c875bba8f3cf04112b17b3ab71b"
        });
    }

    /// @dev eip3009-x402.json eip712[7]: ReceiveWithAuthorization, "USDC", chain 84532.
    function _baseSepoliaReceive() internal pure returns (Vector memory) {
        return Vector({
            name: "USDC",
            chainId: 84_532,
            verifyingContract: 0x036CbD53842c5426634e7929541eC2318f3dCF7e,
            isReceive: true,
            privateKey: 0x5232242e49963253bd76127a11419ecb8d0862c899c78da71c01c2547f7e44a5,
            from: 0x665753A2a39958fCB4Dd66429CCedaf0389F8a9f,
            to: 0xBEDf17688601cF0CCC2c9220532E73056C49547E,
            value: 9_326_418_116,
            validAfter: 0,
            validBefore: 1_800_063_805,
            nonce: 0x05ff8ca0e7d474d52ecb8c89a8932887725aaf475701cba779d10d2f3093208c,
            digest: 0x05dbdd0d3d4b66a8a77cb38fa63b0039b098d2b75eb0ca3918f26d551bcc8299,
            signature: hex"e31f4d67c25f024be62b2b08669d6feb790a28240d235609be2d99f08d89f81f2811cbd4f26ec5ad5dbde0660df938ed8272bea58b1ac398a15b7df95a418e631c"
        });
    }
}
