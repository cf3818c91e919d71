use alloy::{
    primitives::{Address, U256, keccak256},
    providers::Provider,
    signers::local::PrivateKeySigner,
    sol_types::SolValue,
};
use clearing_chain::{
    DeployConfig, connect_with_signer,
    contracts::{AnchorRegistry, BalanceVault, BatchSettler, Escrow, MockUSDC, Subscriptions},
    deploy_mock_usdc, deploy_suite, mint_mock_usdc,
};

use clearing_testkit::anvil;

#[tokio::test]
async fn deploy_suite_puts_code_at_every_address_with_the_configured_roles() {
    let anvil = anvil();
    let signer = PrivateKeySigner::from(anvil.keys()[0].clone());
    let deployer = signer.address();
    let provider = connect_with_signer(&anvil.endpoint(), signer).unwrap();
    let config = DeployConfig {
        fee_recipient: Address::repeat_byte(0xfe),
        max_fee_bps: 500,
        operator: Address::repeat_byte(0x0b),
        anchor_admin: Address::repeat_byte(0xad),
        anchorer: Address::repeat_byte(0xa4),
        withdrawal_delay: 3_600,
    };

    let deployment = deploy_suite(&provider, &config).await.unwrap();

    assert_eq!(deployment.chain_id, anvil.chain_id());
    let vault = deployment.balance_vault.unwrap();
    let subscriptions = deployment.subscriptions.unwrap();
    let addresses = [deployment.batch_settler, deployment.escrow, deployment.anchor_registry, vault, subscriptions];
    assert!(addresses.iter().all(|a| *a != Address::ZERO && *a != deployer));
    for address in addresses {
        assert!(!provider.get_code_at(address).await.unwrap().is_empty(), "no code at {address}");
    }

    let escrow = Escrow::new(deployment.escrow, &provider);
    assert_eq!(escrow.feeRecipient().call().await.unwrap(), config.fee_recipient);
    assert_eq!(escrow.maxFeeBps().call().await.unwrap(), config.max_fee_bps);
    assert_eq!(escrow.operator().call().await.unwrap(), config.operator);

    let registry = AnchorRegistry::new(deployment.anchor_registry, &provider);
    assert_eq!(registry.admin().call().await.unwrap(), config.anchor_admin);
    assert_eq!(registry.anchorer().call().await.unwrap(), config.anchorer);
    assert_eq!(registry.nextSeq().call().await.unwrap(), 0);

    let settler = BatchSettler::new(deployment.batch_settler, &provider);
    assert_eq!(settler.ITEM_GAS_LIMIT().call().await.unwrap(), U256::from(500_000));

    let balances = BalanceVault::new(vault, &provider);
    assert_eq!(balances.feeRecipient().call().await.unwrap(), config.fee_recipient);
    assert_eq!(balances.maxFeeBps().call().await.unwrap(), config.max_fee_bps);
    assert_eq!(balances.operator().call().await.unwrap(), config.operator);
    assert_eq!(balances.withdrawalDelay().call().await.unwrap(), U256::from(3_600));
    assert_eq!(balances.charger().call().await.unwrap(), subscriptions);
    let charges = Subscriptions::new(subscriptions, &provider);
    assert_eq!(charges.vault().call().await.unwrap(), vault);
    assert_eq!(charges.operator().call().await.unwrap(), config.operator);
}

#[tokio::test]
async fn mock_usdc_has_the_fiat_token_domain_and_mints() {
    let anvil = anvil();
    let signer = PrivateKeySigner::from(anvil.keys()[0].clone());
    let provider = connect_with_signer(&anvil.endpoint(), signer).unwrap();

    let token = deploy_mock_usdc(&provider, "USD Coin").await.unwrap();
    let usdc = MockUSDC::new(token, &provider);
    assert_eq!(usdc.name().call().await.unwrap(), "USD Coin");
    assert_eq!(usdc.version().call().await.unwrap(), "2");
    assert_eq!(usdc.decimals().call().await.unwrap(), 6);

    // The domain separator is EIP-712's over {name, version, chainId, verifyingContract}.
    let expected = keccak256(
        (
            keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
            keccak256("USD Coin"),
            keccak256("2"),
            U256::from(anvil.chain_id()),
            token,
        )
            .abi_encode(),
    );
    assert_eq!(usdc.DOMAIN_SEPARATOR().call().await.unwrap(), expected);

    let agent = Address::repeat_byte(0x42);
    mint_mock_usdc(&provider, token, agent, U256::from(1_234_567)).await.unwrap();
    assert_eq!(usdc.balanceOf(agent).call().await.unwrap(), U256::from(1_234_567));
    assert_eq!(usdc.totalSupply().call().await.unwrap(), U256::from(1_234_567));
}
