// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../../src/BalanceVault.sol";
import {MockUSDC} from "../../mocks/MockUSDC.sol";
import {Authorizations} from "../../utils/Authorizations.sol";
import {Vm} from "../../utils/Vm.sol";

/// @title BalanceVaultHandler
/// @notice Drives a BalanceVault for the invariant suites with bounded, mostly valid calls: deposits by
///         `transferFrom` and by signed x402 authorizations (alone and in batches, some with bad signatures, some
///         front-run), bookings of front-run money, plain transfers (`donate`), operator debit batches (overdrafts,
///         reused ids, fees above the cap, payers whose withdrawal has unlocked), withdrawal requests, cancels and
///         withdrawals, claims, and time passing. Keeps a model of every balance and claimable amount, applying each
///         debit exactly when the rules allow it, and checks every `Debited` and `Charged` event against the balance
///         it drew on at that moment.
contract BalanceVaultHandler is Authorizations {
    uint256 internal constant ACTORS = 3;
    uint256 internal constant MAX_DEPOSIT = 100e6;

    /// @notice A front-run authorization: money in the vault that `book` may credit.
    struct Stray {
        address from;
        uint256 amount;
        bytes32 nonce;
        bool booked;
    }

    BalanceVault public immutable vault;
    MockUSDC public immutable usdc;
    address public immutable feeRecipient;
    address public immutable operator;
    address public immutable frontRunner;
    address public immutable sink;
    uint16 internal immutable _maxFeeBps;

    address[ACTORS] public agents;
    uint256[ACTORS] internal _agentKeys;
    address[ACTORS] public providers;

    /// @notice The model: what each agent's balance and each account's claimable amount must be.
    mapping(address agent => uint256 amount) public modelBalance;
    mapping(address account => uint256 amount) public modelClaimable;
    /// @dev Debit ids the model applied.
    mapping(bytes32 id => bool applied) internal _modelDebited;
    /// @dev Debit ids seen in `Debited` events.
    mapping(bytes32 id => bool seen) internal _seenDebited;

    /// @notice Sum of every deposit credited (including bookings).
    uint256 public ghostDeposited;
    /// @notice Sum of every withdrawal paid.
    uint256 public ghostWithdrawn;
    /// @notice Sum of every claim paid.
    uint256 public ghostClaimed;
    /// @notice Money that reached the vault outside its entries (front-run authorizations, plain transfers).
    uint256 public ghostStray;
    /// @notice The part of `ghostStray` booked by `depositTransferred`.
    uint256 public ghostBooked;
    /// @notice Set if a `Debited` or `Charged` event took more than the balance it drew on held at that moment.
    bool public ghostOverdrawn;
    /// @notice Set if a debit or charge applied to a balance whose withdrawal had unlocked.
    bool public ghostSpentAfterUnlock;
    /// @notice Set if one debit id was applied twice.
    bool public ghostDebitedTwice;
    /// @notice Set if a batch applied a different number of debits than the rules allow.
    bool public ghostDebitCountWrong;
    /// @notice Set if a withdrawal whose delay had passed was refused or paid other than the balance.
    bool public ghostWithdrawRefused;
    /// @notice Successful calls per action, for the run summary.
    mapping(bytes32 action => uint256 count) public calls;

    Stray[] internal _strays;
    bytes32[] internal _debitIds;
    uint256 internal _nonce;

    constructor(BalanceVault vault_, MockUSDC usdc_) {
        vault = vault_;
        usdc = usdc_;
        feeRecipient = vault_.feeRecipient();
        operator = vault_.operator();
        _maxFeeBps = vault_.maxFeeBps();
        frontRunner = makeAddr("front-runner");
        sink = makeAddr("claim sink");
        for (uint256 i; i < ACTORS; ++i) {
            (agents[i], _agentKeys[i]) = makeKey(string.concat("agent-", vm.toString(i)));
            providers[i] = makeAddr(string.concat("provider-", vm.toString(i)));
            usdc_.mint(agents[i], 1_000_000_000e6);
        }
    }

    // ------------------------------------------------------------------ deposits

    /// @notice An agent deposits with `transferFrom`.
    function deposit(uint256 actorSeed, uint256 amount) external {
        address agent = agents[actorSeed % ACTORS];
        amount = bound(amount, 1, MAX_DEPOSIT);
        vm.prank(agent);
        usdc.approve(address(vault), amount);
        vm.prank(agent);
        vault.deposit(address(usdc), amount);
        _credited(agent, amount);
        ++calls["deposit"];
    }

    /// @notice The operator deposits one signed x402 authorization.
    function depositWithTransfer(uint256 actorSeed, uint256 amount) external {
        BalanceVault.TransferDeposit memory item = _transferDeposit(actorSeed % ACTORS, bound(amount, 1, MAX_DEPOSIT));
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
        _credited(item.from, item.amount);
        ++calls["depositWithTransfer"];
    }

    /// @notice The operator deposits up to four authorizations; `badMask` items carry a wrong signer,
    ///         `frontRunMask` items were submitted to the token first.
    function depositManyWithTransfer(uint256 seed, uint256 count, uint8 badMask, uint8 frontRunMask) external {
        count = bound(count, 1, 4);
        BalanceVault.TransferDeposit[] memory items = new BalanceVault.TransferDeposit[](count);
        bool[] memory good = new bool[](count);
        uint256 expected;
        for (uint256 i; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            items[i] = _transferDeposit(r % ACTORS, bound(r >> 8, 1, MAX_DEPOSIT));
            if (badMask & (1 << i) != 0) {
                items[i].signature = _sign(_agentKeys[(r % ACTORS + 1) % ACTORS] ^ 1, items[i]);
            } else if (frontRunMask & (1 << i) != 0) {
                BalanceVault.TransferDeposit memory d = items[i];
                vm.prank(frontRunner);
                usdc.transferWithAuthorization(
                    d.from, address(vault), d.amount, d.validAfter, d.validBefore, d.nonce, d.signature
                );
                ghostStray += d.amount;
                _strays.push(Stray({from: d.from, amount: d.amount, nonce: d.nonce, booked: false}));
            } else {
                good[i] = true;
                ++expected;
            }
        }
        vm.prank(operator);
        uint256 deposited = vault.depositManyWithTransfer(address(usdc), items);
        require(deposited == expected, "depositManyWithTransfer count");
        for (uint256 i; i < count; ++i) {
            if (good[i]) _credited(items[i].from, items[i].amount);
        }
        ++calls["depositManyWithTransfer"];
    }

    /// @notice The operator books one front-run authorization from the surplus it left.
    function book(uint256 seed) external {
        uint256 count = _strays.length;
        for (uint256 i; i < count; ++i) {
            Stray storage stray = _strays[(seed % count + i) % count];
            if (stray.booked) continue;
            stray.booked = true;
            vm.prank(operator);
            vault.depositTransferred(address(usdc), stray.from, stray.amount, stray.nonce);
            _credited(stray.from, stray.amount);
            ghostBooked += stray.amount;
            ++calls["book"];
            return;
        }
    }

    /// @notice An agent sends USDC with a plain transfer: surplus nobody can book.
    function donate(uint256 actorSeed, uint256 amount) external {
        amount = bound(amount, 1, 10e6);
        vm.prank(agents[actorSeed % ACTORS]);
        usdc.transfer(address(vault), amount);
        ghostStray += amount;
        ++calls["donate"];
    }

    // ------------------------------------------------------------------ debits

    /// @notice The operator posts up to five debits: some overdraw, reuse an id, exceed the fee cap, name no
    ///         provider or a payer with nothing (a provider), or draw on a balance whose withdrawal has unlocked.
    function debitMany(uint256 seed, uint256 count) external {
        count = bound(count, 1, 5);
        BalanceVault.Debit[] memory items = new BalanceVault.Debit[](count);
        for (uint256 i; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i, "debit")));
            items[i] = _newDebit(r);
        }
        uint256 expected = _modelDebits(items);
        uint256[ACTORS] memory before = _balances();
        vm.recordLogs();
        vm.prank(operator);
        uint256 applied = vault.debitMany(address(usdc), items);
        if (applied != expected) ghostDebitCountWrong = true;
        _checkSpends(vm.getRecordedLogs(), before);
        ++calls["debitMany"];
    }

    /// @notice The operator tries to debit an agent whose withdrawal has unlocked: it must fail.
    function lateDebit(uint256 actorSeed, uint256 amount) external {
        (address agent, bool found) = _agentWithUnlocked(actorSeed);
        if (!found) return;
        BalanceVault.Debit[] memory items = new BalanceVault.Debit[](1);
        items[0] = BalanceVault.Debit({
            id: keccak256(abi.encode("late", ++_nonce)),
            payer: agent,
            provider: providers[0],
            amount: bound(amount, 1, MAX_DEPOSIT),
            fee: 0
        });
        uint256[ACTORS] memory before = _balances();
        vm.recordLogs();
        vm.prank(operator);
        if (vault.debitMany(address(usdc), items) != 0) ghostSpentAfterUnlock = true;
        _checkSpends(vm.getRecordedLogs(), before);
        ++calls["lateDebit"];
    }

    // ------------------------------------------------------------------ the exit

    /// @notice An agent with a balance and no request asks to withdraw.
    function requestWithdrawal(uint256 actorSeed) external {
        for (uint256 i; i < ACTORS; ++i) {
            address agent = agents[(actorSeed % ACTORS + i) % ACTORS];
            BalanceVault.Account memory account = vault.accountOf(address(usdc), agent);
            if (account.unlockAt != 0 || account.balance == 0) continue;
            vm.prank(agent);
            vault.requestWithdrawal(address(usdc));
            ++calls["requestWithdrawal"];
            return;
        }
    }

    /// @notice An agent with a request drops it.
    function cancelWithdrawal(uint256 actorSeed) external {
        for (uint256 i; i < ACTORS; ++i) {
            address agent = agents[(actorSeed % ACTORS + i) % ACTORS];
            if (vault.accountOf(address(usdc), agent).unlockAt == 0) continue;
            vm.prank(agent);
            vault.cancelWithdrawal(address(usdc));
            ++calls["cancelWithdrawal"];
            return;
        }
    }

    /// @notice An agent whose request has unlocked withdraws; it must be paid its whole balance.
    function withdraw(uint256 actorSeed) external {
        (address agent, bool found) = _agentWithUnlocked(actorSeed);
        if (!found) return;
        uint256 balance = vault.balanceOf(address(usdc), agent);
        vm.prank(agent);
        (bool ok, bytes memory ret) = address(vault).call(abi.encodeCall(BalanceVault.withdraw, (address(usdc), sink)));
        if (!ok || abi.decode(ret, (uint256)) != balance || balance != modelBalance[agent]) {
            ghostWithdrawRefused = true;
            return;
        }
        modelBalance[agent] = 0;
        ghostWithdrawn += balance;
        ++calls["withdraw"];
    }

    // ------------------------------------------------------------------ claims

    /// @notice A provider or the fee recipient claims its whole balance to the sink.
    function claim(uint256 accountSeed) external {
        address account = _earner(accountSeed);
        uint256 amount = vault.claimable(address(usdc), account);
        if (amount == 0) return;
        vm.prank(account);
        require(vault.claim(address(usdc), sink) == amount, "claim amount");
        _claimed(account, amount);
        ++calls["claim"];
    }

    /// @notice Anyone pays one earner's balance to itself.
    function claimFor(uint256 accountSeed) external {
        address account = _earner(accountSeed);
        uint256 amount = vault.claimable(address(usdc), account);
        if (amount == 0) return;
        require(vault.claimFor(address(usdc), account) == amount, "claimFor amount");
        _claimed(account, amount);
        ++calls["claimFor"];
    }

    /// @notice Anyone pays every account's balance to itself; agents and empty accounts fail alone.
    function claimMany() external {
        address[] memory list = this.accounts();
        uint256 nonZero;
        uint256[] memory amounts = new uint256[](list.length);
        for (uint256 i; i < list.length; ++i) {
            amounts[i] = vault.claimable(address(usdc), list[i]);
            if (amounts[i] != 0) ++nonZero;
        }
        require(vault.claimMany(address(usdc), list) == nonZero, "claimMany count");
        for (uint256 i; i < list.length; ++i) {
            if (amounts[i] != 0) _claimed(list[i], amounts[i]);
        }
        ++calls["claimMany"];
    }

    /// @notice Moves time forward by up to two days (the withdrawal delay is one).
    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 2 days));
        ++calls["warp"];
    }

    // ------------------------------------------------------------------ views for the invariants

    /// @notice Everyone the vault may owe: the agents, the providers and the fee recipient.
    function accounts() external view returns (address[] memory list) {
        list = new address[](2 * ACTORS + 1);
        for (uint256 i; i < ACTORS; ++i) {
            list[i] = agents[i];
            list[ACTORS + i] = providers[i];
        }
        list[2 * ACTORS] = feeRecipient;
    }

    // ------------------------------------------------------------------ internal

    function _credited(address agent, uint256 amount) internal {
        modelBalance[agent] += amount;
        ghostDeposited += amount;
    }

    function _claimed(address account, uint256 amount) internal {
        if (modelClaimable[account] != amount) ghostOverdrawn = true; // a claim paid other than what was earned
        modelClaimable[account] = 0;
        ghostClaimed += amount;
    }

    /// @dev A random debit: mostly valid, sometimes overdrawn, a reused id, a fee above the cap or no provider.
    function _newDebit(uint256 r) internal returns (BalanceVault.Debit memory item) {
        uint256 amount = bound(r >> 16, 1, MAX_DEPOSIT);
        uint256 maxFee = amount * _maxFeeBps / 10_000;
        bytes32 id;
        if (r % 6 == 0 && _debitIds.length != 0) {
            id = _debitIds[(r >> 100) % _debitIds.length];
        } else {
            // Sequential ids, as a ledger numbers its debits (they share bitmap words).
            id = bytes32(++_nonce);
            _debitIds.push(id);
        }
        item = BalanceVault.Debit({
            id: id,
            payer: r % 11 == 0 ? providers[(r >> 8) % ACTORS] : agents[(r >> 4) % ACTORS],
            provider: r % 13 == 0 ? address(0) : providers[(r >> 8) % ACTORS],
            amount: amount,
            fee: r % 7 == 0 ? maxFee + 1 : bound(r >> 200, 0, maxFee)
        });
    }

    /// @dev Applies `items` to the model in order, each exactly when the rules allow; returns how many apply.
    function _modelDebits(BalanceVault.Debit[] memory items) internal returns (uint256 applied) {
        for (uint256 i; i < items.length; ++i) {
            BalanceVault.Debit memory item = items[i];
            if (item.provider == address(0) || item.fee > item.amount * _maxFeeBps / 10_000) continue;
            if (_modelDebited[item.id] || _unlocked(item.payer)) continue;
            if (modelBalance[item.payer] < item.amount) continue;
            _modelDebited[item.id] = true;
            modelBalance[item.payer] -= item.amount;
            modelClaimable[item.provider] += item.amount - item.fee;
            modelClaimable[feeRecipient] += item.fee;
            ++applied;
        }
    }

    /// @dev The agents' balances now, to hand to `_checkSpends` after a call that may spend them.
    function _balances() internal view returns (uint256[ACTORS] memory balances) {
        for (uint256 i; i < ACTORS; ++i) {
            balances[i] = vault.balanceOf(address(usdc), agents[i]);
        }
    }

    /// @dev Walks every `Debited` and `Charged` event of the vault in `logs`, in order, from the balances read before
    ///      the call (`before`): each must be covered by what its payer held at that moment and drawn on a balance
    ///      whose withdrawal had not unlocked, and the balances after must be exactly what the events left. Applies
    ///      the charges to the model (the debits were applied by `_modelDebits`).
    function _checkSpends(Vm.Log[] memory logs, uint256[ACTORS] memory before) internal {
        uint256[ACTORS] memory running = before;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(vault)) continue;
            bytes32 topic = logs[i].topics[0];
            bool debited = topic == BalanceVault.Debited.selector;
            if (!debited && topic != BalanceVault.Charged.selector) continue;
            address payer = address(uint160(uint256(logs[i].topics[3])));
            (address provider, uint256 amount, uint256 fee) = abi.decode(logs[i].data, (address, uint256, uint256));
            if (_unlocked(payer)) ghostSpentAfterUnlock = true;
            uint256 index = _agentIndex(payer);
            if (index == ACTORS || running[index] < amount) {
                ghostOverdrawn = true;
                continue;
            }
            running[index] -= amount;
            ++calls[debited ? bytes32("debited") : bytes32("charged")];
            if (debited) {
                bytes32 id = logs[i].topics[1];
                if (_seenDebited[id]) ghostDebitedTwice = true;
                _seenDebited[id] = true;
            } else {
                modelBalance[payer] -= amount;
                modelClaimable[provider] += amount - fee;
                modelClaimable[feeRecipient] += fee;
            }
        }
        for (uint256 i; i < ACTORS; ++i) {
            if (vault.balanceOf(address(usdc), agents[i]) != running[i]) ghostOverdrawn = true;
        }
    }

    function _unlocked(address agent) internal view returns (bool) {
        uint256 unlockAt = vault.accountOf(address(usdc), agent).unlockAt;
        return unlockAt != 0 && block.timestamp >= unlockAt;
    }

    function _agentWithUnlocked(uint256 seed) internal view returns (address agent, bool found) {
        for (uint256 i; i < ACTORS; ++i) {
            agent = agents[(seed % ACTORS + i) % ACTORS];
            if (_unlocked(agent)) return (agent, true);
        }
        return (address(0), false);
    }

    function _agentIndex(address account) internal view returns (uint256) {
        for (uint256 i; i < ACTORS; ++i) {
            if (agents[i] == account) return i;
        }
        return ACTORS;
    }

    function _earner(uint256 seed) internal view returns (address) {
        uint256 index = seed % (ACTORS + 1);
        return index < ACTORS ? providers[index] : feeRecipient;
    }

    function _transferDeposit(uint256 agentIndex, uint256 amount)
        internal
        returns (BalanceVault.TransferDeposit memory item)
    {
        item = BalanceVault.TransferDeposit({
            from: agents[agentIndex],
            amount: amount,
            validAfter: 0,
            validBefore: type(uint256).max,
            nonce: keccak256(abi.encode("deposit", ++_nonce)),
            signature: ""
        });
        item.signature = _sign(_agentKeys[agentIndex], item);
    }

    function _sign(uint256 key, BalanceVault.TransferDeposit memory item) internal view returns (bytes memory) {
        return signTransfer(
            usdc,
            key,
            Authorization({
                from: item.from,
                to: address(vault),
                value: item.amount,
                validAfter: item.validAfter,
                validBefore: item.validBefore,
                nonce: item.nonce
            })
        );
    }
}
