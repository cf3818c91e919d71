// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {VerifyReader} from "../../src/VerifyReader.sol";
import {VerifyReaderBase} from "./Base.t.sol";

/// @dev A token whose `transferWithAuthorization` returns 10 kB of revert data or burns all its gas.
contract HostileToken {
    bool internal immutable _burn;

    constructor(bool burn) {
        _burn = burn;
    }

    function balanceOf(address) external pure returns (uint256) {
        return 1;
    }

    function authorizationState(address, bytes32) external pure returns (bool) {
        return false;
    }

    fallback() external {
        if (_burn) {
            while (true) {}
        }
        assembly {
            revert(0, 10000)
        }
    }
}

/// @dev The simulated `transferWithAuthorization`: what the token would do at settle, undone.
contract VerifyReaderSimulateTest is VerifyReaderBase {
    function test_When_TheTransferWouldSucceed_ReportsSuccessAndChangesNothing() public {
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](2);
        // The same payment twice: the first simulation is undone before the second runs.
        queries[0] = payment(payTo, 600_000, bytes32(uint256(1)));
        queries[1] = queries[0];

        VerifyReader.Answer[] memory answers = read(queries);

        for (uint256 i = 0; i < 2; i++) {
            assertTrue(has(answers[i], SIMULATED) && has(answers[i], SIMULATION_SUCCEEDED), "succeeds");
            assertEq(answers[i].refusal.length, 0, "no refusal");
        }
        assertEq(usdc.balanceOf(payer), 1_000_000, "nothing moved");
        assertFalse(usdc.authorizationState(payer, bytes32(uint256(1))), "the nonce is still unused");
    }

    function test_When_NotAskedToSimulate_ReadsButDoesNotSimulate() public {
        VerifyReader.Query memory q = payment(payTo, 600_000, bytes32(uint256(1)));
        q.simulate = false;
        // Paused: a simulation would refuse, so an answer without a refusal shows none ran.
        usdc.pause();

        VerifyReader.Answer memory answer = readOne(q);

        assertTrue(has(answer, BALANCE_OK) && has(answer, NONCE_OK), "the reads still run");
        assertEq(answer.balance, 1_000_000, "balance");
        assertFalse(has(answer, SIMULATED), "not simulated");
        assertEq(answer.refusal.length, 0, "no refusal");
    }

    function test_When_OnlySomeQueriesSimulate_EachGetsWhatItAskedFor() public {
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](3);
        queries[0] = payment(payTo, 600_000, bytes32(uint256(1)));
        queries[0].simulate = false;
        queries[1] = payment(payTo, 600_000, bytes32(uint256(2)));
        queries[2] = payment(payTo, 2_000_000, bytes32(uint256(3)));
        queries[2].simulate = false;

        VerifyReader.Answer[] memory answers = read(queries);

        assertFalse(has(answers[0], SIMULATED), "first not simulated");
        assertTrue(has(answers[1], SIMULATED) && has(answers[1], SIMULATION_SUCCEEDED), "second simulated");
        assertFalse(has(answers[2], SIMULATED), "third not simulated, though it would fail");
    }

    function test_When_NothingIsSimulated_NoProbeIsCreated() public {
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](1);
        queries[0] = payment(payTo, 600_000, bytes32(uint256(1)));
        queries[0].simulate = false;

        uint256 gasBefore = gasleft();
        read(queries);
        uint256 withoutSimulation = gasBefore - gasleft();
        queries[0].simulate = true;
        gasBefore = gasleft();
        read(queries);
        uint256 withSimulation = gasBefore - gasleft();

        // The probe's CREATE alone costs more than 32,000 gas.
        assertTrue(withSimulation > withoutSimulation + 32_000, "a probe and a transfer are only paid when asked for");
    }

    function test_When_TwoPaymentsExceedTheBalanceTogether_EachAloneSucceeds() public {
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](2);
        queries[0] = payment(payTo, 600_000, bytes32(uint256(1)));
        queries[1] = payment(payTo, 600_000, bytes32(uint256(2)));

        VerifyReader.Answer[] memory answers = read(queries);

        assertTrue(has(answers[1], SIMULATION_SUCCEEDED), "the first simulation moved nothing");
    }

    function test_When_TheTokenIsPaused_ReportsItsMessage() public {
        usdc.pause();

        VerifyReader.Answer memory a = readOne(payment(payTo, 10, bytes32(uint256(1))));

        assertTrue(has(a, SIMULATED) && !has(a, SIMULATION_SUCCEEDED), "refused");
        assertTrue(has(a, REFUSAL_IS_MESSAGE), "an Error(string)");
        assertEq(string(a.refusal), "Pausable: paused", "message");
        assertFalse(has(a, PAYER_BLACKLISTED) || has(a, RECIPIENT_BLACKLISTED), "nobody blacklisted");
    }

    function test_When_ThePayerIsBlacklisted_SaysWhoIs() public {
        usdc.blacklist(payer);

        VerifyReader.Answer memory a = readOne(payment(payTo, 10, bytes32(uint256(1))));

        assertEq(string(a.refusal), "Blacklistable: account is blacklisted", "message");
        assertTrue(has(a, PAYER_BLACKLISTED), "the payer");
        assertFalse(has(a, RECIPIENT_BLACKLISTED), "not the payee");
    }

    function test_When_ThePayeeIsBlacklisted_SaysWhoIs() public {
        usdc.blacklist(payTo);

        VerifyReader.Answer memory a = readOne(payment(payTo, 10, bytes32(uint256(1))));

        assertEq(string(a.refusal), "Blacklistable: account is blacklisted", "message");
        assertFalse(has(a, PAYER_BLACKLISTED), "not the payer");
        assertTrue(has(a, RECIPIENT_BLACKLISTED), "the payee");
    }

    function test_When_ThePayeeIsTheToken_AndTheTokenBlacklistsItself_Refuses() public {
        // FiatToken v2.2 blacklists its own address when initialized.
        usdc.blacklist(address(usdc));

        VerifyReader.Answer memory a = readOne(payment(address(usdc), 10, bytes32(uint256(1))));

        assertEq(string(a.refusal), "Blacklistable: account is blacklisted", "message");
        assertTrue(has(a, RECIPIENT_BLACKLISTED), "the payee");
    }

    function test_When_TheBalanceIsShort_ReportsTheTokensMessage() public {
        VerifyReader.Answer memory a = readOne(payment(payTo, 1_000_001, bytes32(uint256(1))));

        assertEq(string(a.refusal), "ERC20: transfer amount exceeds balance", "message");
    }

    function test_When_TheSignatureIsWrong_ReportsTheTokensMessage() public {
        VerifyReader.Query memory q = payment(payTo, 10, bytes32(uint256(1)));
        q.value = 11;

        assertEq(string(readOne(q).refusal), "FiatTokenV2: invalid signature", "message");
    }

    function test_When_TheWindowHasClosed_ReportsTheTokensMessage() public {
        vm.warp(2000);

        assertEq(
            string(readOne(payment(payTo, 10, bytes32(uint256(1)))).refusal),
            "FiatTokenV2: authorization is expired",
            "message"
        );
    }

    function test_When_TheTokenReturnsHugeRevertData_TheRefusalIsCut() public {
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](2);
        queries[0] = payment(payTo, 10, bytes32(uint256(1)));
        queries[0].token = address(new HostileToken(false));
        queries[1] = payment(payTo, 10, bytes32(uint256(2)));

        VerifyReader.Answer[] memory answers = read(queries);

        assertTrue(has(answers[0], SIMULATED) && !has(answers[0], SIMULATION_SUCCEEDED), "refused");
        assertFalse(has(answers[0], REFUSAL_IS_MESSAGE), "raw data");
        assertEq(answers[0].refusal.length, 64, "cut to MAX_REFUSAL_LENGTH");
        assertTrue(has(answers[1], SIMULATION_SUCCEEDED), "the next query is unaffected");
    }

    function test_When_TheTokenBurnsItsStipend_OnlyThatItemFails() public {
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](2);
        queries[0] = payment(payTo, 10, bytes32(uint256(1)));
        queries[0].token = address(new HostileToken(true));
        queries[1] = payment(payTo, 10, bytes32(uint256(2)));

        VerifyReader.Answer[] memory answers = read(queries);

        assertTrue(has(answers[0], SIMULATED) && !has(answers[0], SIMULATION_SUCCEEDED), "out of its stipend");
        assertEq(answers[0].refusal.length, 0, "no revert data");
        assertTrue(has(answers[1], SIMULATION_SUCCEEDED), "the next query is unaffected");
    }
}
